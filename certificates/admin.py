"""Admin for certificates: read-only (they are issued only by certificates.services), showing the
digest and whether the stored record still hashes to it, with a link to the PDF."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from certificates.models import Certificate
from certificates.services import certificate_verify


@admin.register(Certificate)
class CertificateAdmin(admin.ModelAdmin):
    list_display = ("message_public_id", "account", "digest", "issued_at", "record_intact")
    list_select_related = ("message", "account")
    search_fields = ("message__public_id", "digest")
    list_filter = ("issued_at",)
    fields = ("account", "message", "issued_at", "digest", "record_intact", "pdf_link", "record")
    readonly_fields = fields

    @admin.display(description="message")
    def message_public_id(self, certificate: Certificate) -> str:
        return certificate.message.public_id

    @admin.display(description="record matches digest", boolean=True)
    def record_intact(self, certificate: Certificate) -> bool:
        return certificate_verify(certificate=certificate)

    @admin.display(description="PDF")
    def pdf_link(self, certificate: Certificate) -> str:
        url = reverse("admin:certificates_certificate_pdf", args=[certificate.pk])
        return format_html('<a href="{}">certificate-{}.pdf</a>', url, certificate.message.public_id)

    def get_urls(self) -> list[URLPattern]:
        pdf = path(
            "<int:certificate_id>/pdf/",
            self.admin_site.admin_view(self.pdf_view),
            name="certificates_certificate_pdf",
        )
        return [pdf, *super().get_urls()]

    def pdf_view(self, request: HttpRequest, certificate_id: int) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        certificate = get_object_or_404(Certificate, pk=certificate_id)
        return HttpResponse(bytes(certificate.pdf), content_type="application/pdf")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Certificate | None = None) -> bool:
        return False
