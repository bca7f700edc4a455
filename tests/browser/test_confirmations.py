"""Destructive buttons ask first, through static/js/confirm.js (no inline handler, so the staff CSP
refuses every inline script): dismissing keeps the group, accepting deletes it."""

import pytest

from contacts.models import Group
from tests.browser.test_compose_page import PASSWORD, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff(api_user):
    api_user.set_password(PASSWORD)
    api_user.save()
    return api_user


def test_deleting_a_group_asks_first_under_the_content_security_policy(page, staff):
    Group.objects.create(account=staff.account, name="Customers")
    sign_in(page)
    page.goto("/contacts/groups/")
    questions: list[str] = []

    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Delete").click()
    page.wait_for_timeout(300)
    assert Group.objects.filter(name="Customers").exists()

    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Delete").click()
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)

    assert questions == ["Delete group Customers? Its contacts are kept."] * 2
    assert not Group.objects.filter(name="Customers").exists()
