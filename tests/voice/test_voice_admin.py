"""The menu admin validates with voice_menu_clean, like every other writer of menus."""

import pytest
from django.urls import reverse

from voice.models import VoiceMenu


def _form(account, **changes):
    data = {
        "account": account.pk,
        "name": "Offers",
        "speech_type": "tts",
        "text": "Press 1",
        "language": "en_US",
        "gender": "F",
        "audio_url": "",
        "speech_retries": "1",
        "speech_timeout_seconds": "5",
        "options-TOTAL_FORMS": "1",
        "options-INITIAL_FORMS": "0",
        "options-MIN_NUM_FORMS": "0",
        "options-MAX_NUM_FORMS": "1000",
        "options-0-key": "1",
        "options-0-action": "hangup",
        "options-0-transfer_prefix": "",
        "options-0-transfer_number": "",
    }
    data.update(changes)
    return data


@pytest.mark.django_db
def test_a_valid_menu_is_saved_from_the_admin(admin_client, account):
    response = admin_client.post(reverse("admin:voice_voicemenu_add"), _form(account))
    assert response.status_code == 302
    assert VoiceMenu.objects.get().options.get().key == "1"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"options-0-action": "transfer"}, 174),
        ({"language": "hi_IN", "gender": "M"}, 161),
        ({"options-TOTAL_FORMS": "0"}, 169),
        ({"options-0-action": "submenu"}, 173),
    ],
)
def test_the_admin_refuses_what_the_service_refuses_with_the_code(admin_client, account, changes, code):
    response = admin_client.post(reverse("admin:voice_voicemenu_add"), _form(account, **changes))
    assert response.status_code == 200
    assert f"code {code}" in response.content.decode()
    assert not VoiceMenu.objects.exists()
