"""The spec's JSON shapes of templates and forms."""

from typing import Any

from config.api import iso8601
from content.models import Form, Template


def template_v1_to_dict(template: Template) -> dict[str, Any]:
    return {
        "id": template.pk,
        "name": template.name,
        "html": template.html,
        "createdAt": iso8601(template.created_at),
        "updatedAt": iso8601(template.updated_at),
    }


def template_v2_to_dict(template: Template, *, with_html: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"id": template.pk, "name": template.name, "type": template.type}
    if with_html:
        data["html"] = template.html
    data["createdAt"] = iso8601(template.created_at)
    data["updatedAt"] = iso8601(template.updated_at)
    return data


def form_to_dict(form: Form) -> dict[str, Any]:
    return {
        "id": form.pk,
        "name": form.name,
        "placeholder": form.placeholder,
        "createdAt": iso8601(form.created_at),
        "updatedAt": iso8601(form.updated_at),
    }


def with_links(data: dict[str, Any], *, self_url: str, preview_url: str) -> dict[str, Any]:
    return {**data, "links": {"self": self_url, "preview": preview_url}}
