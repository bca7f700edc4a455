"""Web pages of the content app.

Public (no login, signed links, no CDN): the recipient's personal form page, the web view of a
sent email (`[show_link]`) and account files (`[attachment_{ID}]`). A tampered or unknown link
answers 404.

Staff (signed in, scoped to request.user.account): the content index, the v2 template editor with
a live sandboxed preview (v1 templates read-only), the form builder for every annex element with
its preview, and account files. They call the same services as the API.
"""

from __future__ import annotations

from typing import Any, Final

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import escape
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Account
from campaigns.models import Channel
from config.web_paging import keyset_page
from content.form_fields import (
    ELEMENT_TYPES,
    HEADING_TYPES,
    OPTION_TYPES,
    PLACEHOLDER_TYPES,
)
from content.form_page import form_page_html
from content.links import file_token_read, show_token_read
from content.models import AccountFile, Form, Template, TemplateVersion
from content.previews import sandboxed, sandboxed_html_response
from content.selectors import (
    file_get,
    file_list,
    form_and_message_for_token,
    form_get,
    form_list,
    template_list,
)
from content.services import (
    FormAnswerInvalid,
    FormClosed,
    file_delete,
    file_upload,
    form_create,
    form_definition_clean,
    form_delete,
    form_is_closed,
    form_open,
    form_reject,
    form_submit,
    form_update,
    template_create,
    template_delete,
    template_update,
)
from messaging.models import Message

# The public form page loads only its own stylesheet and the form's images; it runs no script.
FORM_PAGE_CSP: Final = (
    "default-src 'none'; img-src http: https: data:; style-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
BLANK_ROWS: Final = 3

# ---------------------------------------------------------------------------------------------
# Public pages


def _user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")


@require_http_methods(["GET", "POST"])
def form_page(request: HttpRequest, token: str) -> HttpResponse:
    found = form_and_message_for_token(token)
    if found is None:
        raise Http404("No such form")
    form, message = found
    state, values, errors, status = "open", {}, {}, 200
    if request.method == "GET":
        form_open(form=form, message=message, user_agent=_user_agent(request))
        if form_is_closed(form=form, message=message):
            state = "closed"
        elif (answer := _previous_values(form, message)) is not None:
            values = answer
    else:
        try:
            if request.POST.get("action") == "reject" and form.reject_button:
                form_reject(form=form, message=message, user_agent=_user_agent(request))
                state = "rejected"
            else:
                form_submit(form=form, message=message, data=request.POST, user_agent=_user_agent(request))
                state = "submitted"
        except FormClosed:
            state, status = "closed", 409
        except FormAnswerInvalid as exc:
            values = {key: value for key, value in request.POST.items() if key not in ("csrfmiddlewaretoken", "action")}
            errors, status = exc.errors, 422
    response = HttpResponse(form_page_html(request, form, values=values, errors=errors, state=state), status=status)
    response["Content-Security-Policy"] = FORM_PAGE_CSP
    # The link is the secret: never sent to the image hosts, but the page's own POST must carry
    # its Origin for the CSRF check (no-referrer would make it "null").
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "private, no-store"
    return response


def _previous_values(form: Form, message: Message) -> dict[str, str] | None:
    """An editable form opens with the recipient's last submitted answers."""
    answer = form.answers.filter(contact_id=message.contact_id, status="submitted").first()
    return dict(answer.values) if answer is not None else None


def email_web_view(request: HttpRequest, token: str) -> HttpResponse:
    """`[show_link]`: the email exactly as this recipient got it, sandboxed."""
    public_id = show_token_read(token)
    message = (
        Message.objects.filter(public_id=public_id, channel=Channel.MAILING).only("body").first() if public_id else None
    )
    if message is None:
        raise Http404("No such email")
    return sandboxed_html_response(message.body)


def file_download(request: HttpRequest, token: str) -> FileResponse:
    """`[attachment_{ID}]`: always a download (never rendered inline as the platform's origin)."""
    file_id = file_token_read(token)
    stored = AccountFile.objects.filter(pk=file_id).first() if file_id is not None else None
    if stored is None:
        raise Http404("No such file")
    try:
        handle = stored.file.open("rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("No such file") from exc
    response = FileResponse(handle, as_attachment=True, filename=stored.name, content_type=stored.content_type)
    sandboxed(response)
    return response


# ---------------------------------------------------------------------------------------------
# Staff pages


def _account(request: HttpRequest) -> Account:
    account = getattr(request.user, "account", None)
    if account is None:
        raise Http404("This user belongs to no account")
    return account


@login_required
def index(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    return render(
        request,
        "content/index.html",
        {
            "templates_v2": template_list(account=account, version=TemplateVersion.V2).count(),
            "templates_v1": template_list(account=account, version=TemplateVersion.V1).count(),
            "forms": form_list(account=account).count(),
            "files": file_list(account=account).count(),
        },
    )


@login_required
def templates(request: HttpRequest) -> HttpResponse:
    """v2 templates, or the legacy v1 ones with `?version=1`, newest first, paged by id."""
    account = _account(request)
    version = TemplateVersion.V1 if request.GET.get("version") == "1" else TemplateVersion.V2
    page = keyset_page(request, template_list(account=account, version=version), descending=True)
    return render(request, "content/templates.html", {"page": page, "version": version})


def _template_or_404(account: Account, template_id: int) -> Template:
    template = Template.objects.filter(account=account, pk=template_id).first()
    if template is None:
        raise Http404("No such template")
    return template


@login_required
@require_http_methods(["GET", "POST"])
def template_edit(request: HttpRequest, template_id: int | None = None) -> HttpResponse:
    account = _account(request)
    template = _template_or_404(account, template_id) if template_id is not None else None
    read_only = template is not None and template.version == TemplateVersion.V1
    values = {"name": template.name if template else "", "html": template.html if template else ""}
    error = ""
    error_field = ""
    if request.method == "POST" and not read_only:
        values = {"name": request.POST.get("name", ""), "html": request.POST.get("html", "")}
        try:
            if template is None:
                template = template_create(account=account, version=TemplateVersion.V2, **values)
            else:
                template = template_update(template=template, **values)
        except ValidationError as exc:
            error = exc.messages[0]
            error_field = "html" if "html" in error else "name"
        else:
            messages.success(request, f"Template “{template.name}” saved.")
            return redirect("content-template-edit", template_id=template.pk)
    return render(
        request,
        "content/template_edit.html",
        {
            "template": template,
            "values": values,
            "read_only": read_only,
            "error": error,
            "error_field": error_field,
        },
        status=422 if error else 200,
    )


@login_required
@require_POST
def template_remove(request: HttpRequest, template_id: int) -> HttpResponse:
    template = _template_or_404(_account(request), template_id)
    template_delete(template=template)
    messages.success(request, f"Template “{template.name}” deleted.")
    return redirect("content-templates")


@login_required
def template_preview(request: HttpRequest, template_id: int) -> HttpResponse:
    return sandboxed_html_response(_template_or_404(_account(request), template_id).html)


@login_required
@require_POST
def template_draft_preview(request: HttpRequest) -> HttpResponse:
    """The editor's live preview: the draft HTML posted into the sandboxed iframe."""
    _account(request)
    return sandboxed_html_response(request.POST.get("html", ""))


# Forms ---------------------------------------------------------------------------------------


@login_required
def forms(request: HttpRequest) -> HttpResponse:
    listed = form_list(account=_account(request)).annotate(answer_count=Count("answers"))
    return render(request, "content/forms.html", {"page": keyset_page(request, listed, descending=True)})


def _form_or_404(account: Account, form_id: int) -> Form:
    form = form_get(account=account, form_id=form_id)
    if form is None:
        raise Http404("No such form")
    return form


def _options_parse(text: str) -> list[dict[str, str]]:
    """One option per line, `value | label` (a line without `|` is both)."""
    options = []
    for line in text.splitlines():
        if not line.strip():
            continue
        value, sep, label = line.partition("|")
        options.append({"value": value.strip(), "label": (label if sep else value).strip()})
    return options


def _options_text(options: list[dict[str, str]]) -> str:
    return "\n".join(f"{option['value']} | {option['label']}" for option in options)


def _builder_rows(post: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rows as typed, formFields for the service: fields[i] comes from rows[i]) from the builder
    POST; rows without a type are blank and skipped."""
    raw_count = str(post.get("rows") or "")
    count = min(int(raw_count) if raw_count.isdigit() else 0, 200)
    rows, fields = [], []
    for index in range(count):
        prefix = f"f-{index}-"
        row = {
            "type": post.get(prefix + "type", ""),
            "label": post.get(prefix + "label", ""),
            "required": post.get(prefix + "required") == "1",
            "description": post.get(prefix + "description", ""),
            "placeholder": post.get(prefix + "placeholder", ""),
            "customField": post.get(prefix + "customField", ""),
            "rows": post.get(prefix + "rows", ""),
            "options_text": post.get(prefix + "options", ""),
        }
        if not row["type"]:
            continue
        rows.append(row)
        field = {key: value for key, value in row.items() if key != "options_text" and value not in ("", None)}
        if row["type"] in OPTION_TYPES:
            field["options"] = _options_parse(row["options_text"])
        fields.append(field)
    return rows, fields


def _rows_of_form(form: Form | None) -> list[dict[str, Any]]:
    rows = []
    for field in form.fields if form else []:
        rows.append(
            {
                "type": field["type"],
                "label": field.get("label", ""),
                "required": field.get("required", False),
                "description": field.get("description", ""),
                "placeholder": field.get("placeholder", ""),
                "customField": field.get("customField", ""),
                "rows": field.get("rows", ""),
                "options_text": _options_text(field.get("options", [])),
            }
        )
    return rows


def _builder_arguments(post: Any, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": post.get("name", ""),
        "form_fields": fields,
        "editable": post.get("editable") == "1",
        "reject_button": post.get("rejectButton") == "1",
        "background_url": post.get("backgroundUrl", ""),
        "logo_url": post.get("logoUrl", ""),
    }


def _error_place(exc: ValidationError) -> tuple[str, int | None, str]:
    """(top-level key, builder row, row attribute) an error belongs to."""
    parts = getattr(exc, "path", "").split(".")
    if parts[0] == "formFields" and len(parts) >= 2 and parts[1].isdigit():
        return "formFields", int(parts[1]), parts[2] if len(parts) > 2 else "type"
    return parts[0] or "formFields", None, ""


@login_required
@require_http_methods(["GET", "POST"])
def form_builder(request: HttpRequest, form_id: int | None = None) -> HttpResponse:
    account = _account(request)
    form = _form_or_404(account, form_id) if form_id is not None else None
    settings_values = {
        "name": form.name if form else "",
        "editable": form.editable if form else True,
        "rejectButton": form.reject_button if form else False,
        "backgroundUrl": form.background_url if form else "",
        "logoUrl": form.logo_url if form else "",
    }
    rows = _rows_of_form(form)
    error = {"message": "", "key": "", "row": None, "attribute": ""}
    if request.method == "POST":
        rows, fields = _builder_rows(request.POST)
        arguments = _builder_arguments(request.POST, fields)
        settings_values = {
            "name": arguments["name"],
            "editable": arguments["editable"],
            "rejectButton": arguments["reject_button"],
            "backgroundUrl": arguments["background_url"],
            "logoUrl": arguments["logo_url"],
        }
        try:
            form = form_create(account=account, **arguments) if form is None else form_update(form=form, **arguments)
        except ValidationError as exc:
            key, row, attribute = _error_place(exc)
            error = {"message": exc.messages[0], "key": key, "row": row, "attribute": attribute}
        else:
            messages.success(request, f"Form “{form.name}” saved.")
            return redirect("content-form-edit", form_id=form.pk)
    rows = rows + [{"type": "", "required": False} for _ in range(BLANK_ROWS)]
    for index, row in enumerate(rows):
        row["index"] = index
        row["error"] = error["message"] if error["row"] == index else ""
        row["error_attribute"] = error["attribute"] if error["row"] == index else ""
    return render(
        request,
        "content/form_builder.html",
        {
            "form": form,
            "settings": settings_values,
            "rows": rows,
            "error": error,
            "element_types": ELEMENT_TYPES,
            "heading_types": HEADING_TYPES,
            "placeholder_types": sorted(PLACEHOLDER_TYPES),
        },
        status=422 if error["message"] else 200,
    )


@login_required
@require_POST
def form_remove(request: HttpRequest, form_id: int) -> HttpResponse:
    form = _form_or_404(_account(request), form_id)
    form_delete(form=form)
    messages.success(request, f"Form “{form.name}” deleted.")
    return redirect("content-forms")


@login_required
def form_preview(request: HttpRequest, form_id: int) -> HttpResponse:
    return sandboxed_html_response(form_page_html(None, _form_or_404(_account(request), form_id), preview=True))


@login_required
@require_POST
def form_draft_preview(request: HttpRequest) -> HttpResponse:
    """The builder's live preview: the draft definition checked by the service and rendered, or
    the first problem in plain words."""
    account = _account(request)
    _rows, fields = _builder_rows(request.POST)
    arguments = _builder_arguments(request.POST, fields)
    form_id = request.POST.get("form_id")
    try:
        definition = form_definition_clean(
            account=account, form_id=int(form_id) if form_id and form_id.isdigit() else None, **arguments
        )
    except ValidationError as exc:
        return sandboxed_html_response(
            f"<p style='font:16px system-ui;color:#a61b1b'>Preview unavailable: {escape(exc.messages[0])}</p>"
        )
    draft = Form(
        account=account,
        name=definition.name,
        editable=definition.editable,
        reject_button=definition.reject_button,
        background_url=definition.background_url,
        logo_url=definition.logo_url,
        fields=definition.fields,
    )
    return sandboxed_html_response(form_page_html(None, draft, preview=True))


# Files ---------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def files(request: HttpRequest) -> HttpResponse:
    account = _account(request)
    error = ""
    if request.method == "POST":
        try:
            stored = file_upload(account=account, upload=request.FILES.get("file"))
        except ValidationError as exc:
            error = exc.messages[0]
        else:
            messages.success(request, f"“{stored.name}” uploaded: link it with [attachment_{stored.pk}].")
            return redirect("content-files")
    return render(
        request,
        "content/files.html",
        {"page": keyset_page(request, file_list(account=account), descending=True), "error": error},
        status=422 if error else 200,
    )


@login_required
@require_POST
def file_remove(request: HttpRequest, file_id: int) -> HttpResponse:
    stored = file_get(account=_account(request), file_id=file_id)
    if stored is None:
        raise Http404("No such file")
    file_delete(file=stored)
    messages.success(request, f"“{stored.name}” deleted.")
    return redirect("content-files")
