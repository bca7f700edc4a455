"""Rendering a form: the recipient's public page and the sandboxed previews (API and staff)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import HttpRequest
from django.template.loader import render_to_string

from content.form_fields import HEADING_TYPES, country_choices
from content.models import Form

FORM_CSS = "content/form.css"


@lru_cache(maxsize=1)
def _form_css() -> str:
    found = finders.find(FORM_CSS)
    if not found:
        found = str(Path(settings.BASE_DIR) / "static" / FORM_CSS)
    return Path(found).read_text(encoding="utf-8")


def _elements(form_fields: list[dict[str, Any]], values: dict[str, str], errors: dict[str, str]) -> list[dict]:
    elements = []
    for index, field in enumerate(form_fields):
        element = {**field, "index": index, "is_heading": field["type"] in HEADING_TYPES}
        key = field.get("customField")
        if key:
            element["input_id"] = f"field-{index}"
            element["value"] = values.get(key, "")
            element["error"] = errors.get(key, "")
        elements.append(element)
    return elements


def form_page_html(
    request: HttpRequest | None,
    form: Form,
    *,
    form_fields: list[dict[str, Any]] | None = None,
    preview: bool = False,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    state: str = "open",
) -> str:
    """The form's page. `state`: open (the form), submitted, rejected or closed (a non-editable
    form already submitted). A preview shows the form with its buttons disabled and its CSS
    inline (the sandboxed preview has no origin to load the stylesheet from)."""
    fields = form.fields if form_fields is None else form_fields
    uses_countries = any(field["type"] == "countrySelector" for field in fields)
    return render_to_string(
        "content/form_page.html",
        {
            "form": form,
            "elements": _elements(fields, values or {}, errors or {}),
            "countries": country_choices() if uses_countries else [],
            "preview": preview,
            "inline_css": _form_css() if preview else "",
            "state": state,
            "has_errors": bool(errors),
        },
        request=request,
    )
