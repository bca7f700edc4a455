"""Helpers for the content tests: forms with every annex element, and a sent message to hang a
personal form link on."""

from typing import Any

import pytest

from accounts.models import Account
from content.models import Form
from content.services import form_create

ALL_ELEMENTS: list[dict[str, Any]] = [
    {"type": "h1", "label": "Title"},
    {"type": "h2", "label": "Subtitle"},
    {"type": "h3", "label": "Your opinion is very important to us"},
    {"type": "h4", "label": "Small title"},
    {"type": "p", "label": "This is my paragraph"},
    {"type": "blockquote", "label": "My blockquote"},
    {"type": "text", "label": "Name", "required": True, "description": "Insert your name",
     "placeholder": "Insert your name", "customField": "form_name"},
    {"type": "password", "label": "Secret word", "customField": "form_secret"},
    {"type": "email", "label": "Email", "required": True, "customField": "form_email"},
    {"type": "number", "label": "Age", "customField": "form_age"},
    {"type": "textarea", "label": "Comments", "customField": "form_comments", "rows": 4},
    {"type": "date", "label": "Birthday", "customField": "form_birthday"},
    {"type": "color", "label": "Favourite colour", "customField": "form_colour"},
    {"type": "countrySelector", "label": "Country", "customField": "form_country"},
    {"type": "select", "label": "Plan", "customField": "form_plan",
     "options": [{"label": "Basic", "value": "basic"}, {"label": "Pro", "value": "pro"}]},
    {"type": "radio", "label": "How satisfied are you?", "required": True, "customField": "form_satisfaction",
     "options": [{"label": "Very satisfied", "value": "10"}, {"label": "Dissatisfied", "value": "2"}]},
    {"type": "checkbox", "label": "I accept the terms", "required": True, "customField": "form_terms"},
]  # fmt: skip

VALID_ANSWERS = {
    "form_name": "Ana",
    "form_secret": "abracadabra",
    "form_email": "ana@example.com",
    "form_age": "41.5",
    "form_comments": "All good",
    "form_birthday": "1984-02-29",
    "form_colour": "#1f5fbf",
    "form_country": "es",
    "form_plan": "pro",
    "form_satisfaction": "10",
    "form_terms": "1",
}


@pytest.fixture
def survey(account: Account) -> Form:
    return form_create(account=account, name="Survey", form_fields=ALL_ELEMENTS, reject_button=True)
