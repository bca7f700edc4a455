"""Signed public links of the content app: a recipient's personal form page, the web view of an
email (`[show_link]`) and account files (`[attachment_{ID}]`).

Each token is signed with django.core.signing (SECRET_KEY, one salt per kind of link), so a link
cannot be forged or pointed at another recipient or file; a tampered token reads as None and the
page answers 404.
"""

from __future__ import annotations

from typing import Final

from django.conf import settings
from django.core import signing

FORM_PATH: Final = "/form/"
SHOW_PATH: Final = "/view/"
FILE_PATH: Final = "/file/"

_FORM_SALT: Final = "content.form"
_SHOW_SALT: Final = "content.show"
_FILE_SALT: Final = "content.file"


def _signer(salt: str) -> signing.Signer:
    return signing.Signer(salt=salt, sep=".")


def form_signer() -> signing.Signer:
    return _signer(_FORM_SALT)


def show_signer() -> signing.Signer:
    return _signer(_SHOW_SALT)


def form_link_url(*, form_id: int, public_id: str, signer: signing.Signer | None = None) -> str:
    """`{PUBLIC_URL}/form/<form id>-<message public id>.<signature>/`: the recipient's own form."""
    return f"{settings.PUBLIC_URL}{FORM_PATH}{(signer or form_signer()).sign(f'{form_id}-{public_id}')}/"


def form_token_read(token: str) -> tuple[int, str] | None:
    """(form id, message public id) inside a valid form token, else None."""
    try:
        value = form_signer().unsign(token)
    except signing.BadSignature:
        return None
    form_id, _, public_id = value.partition("-")
    if not form_id.isdigit() or not public_id:
        return None
    return int(form_id), public_id


def show_link_url(public_id: str, *, signer: signing.Signer | None = None) -> str:
    """`{PUBLIC_URL}/view/<message public id>.<signature>/`: the email as the recipient got it."""
    return f"{settings.PUBLIC_URL}{SHOW_PATH}{(signer or show_signer()).sign(public_id)}/"


def show_token_read(token: str) -> str | None:
    try:
        return show_signer().unsign(token)
    except signing.BadSignature:
        return None


def file_link_url(file_id: int) -> str:
    """`{PUBLIC_URL}/file/<file id>.<signature>/`: the same link for every recipient of a send."""
    return f"{settings.PUBLIC_URL}{FILE_PATH}{_signer(_FILE_SALT).sign(str(file_id))}/"


def file_token_read(token: str) -> int | None:
    try:
        value = _signer(_FILE_SALT).unsign(token)
    except signing.BadSignature:
        return None
    return int(value) if value.isdigit() else None
