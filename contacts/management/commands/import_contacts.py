"""`manage.py import_contacts --account NAME FILE --map "Phone=phone" ...`: a synchronous import."""

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from contacts.importing import ContactImportInvalid, contact_import_create, contact_import_run
from contacts.models import ImportStatus
from contacts.services import groups_resolve

MAX_ERRORS_SHOWN = 50


class Command(BaseCommand):
    help = (
        "Import contacts from a CSV or XLSX file into an account, now (not through the task queue). "
        'Each --map is "Column header=field"; fields: email, phone, landline, countryIso, name, surname, '
        "externalId, custom:<key> or custom:<key>:<string|date|decimal>."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="CSV or XLSX file")
        parser.add_argument("--account", required=True, help="account name")
        parser.add_argument(
            "--map", action="append", default=[], dest="mappings", metavar="HEADER=FIELD", help="column mapping"
        )
        parser.add_argument(
            "--group", action="append", default=[], dest="groups", help="target group name (created if missing)"
        )
        parser.add_argument("--country", default="", help="default country ISO code for national numbers")

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(name=options["account"]).first()
        if account is None:
            raise CommandError(f'No account named "{options["account"]}".')
        mapping: dict[str, str] = {}
        for item in options["mappings"]:
            header, separator, target = item.rpartition("=")
            if not separator or not header.strip():
                raise CommandError(f'--map "{item}" must look like "Column header=field".')
            mapping[header.strip()] = target.strip()
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            groups = groups_resolve(account=account, names=options["groups"]) if options["groups"] else []
            with path.open("rb") as stream:
                contact_import = contact_import_create(
                    account=account,
                    created_by=None,
                    uploaded_file=File(stream, name=path.name),
                    mapping=mapping,
                    group_ids=[group.id for group in groups],
                    default_country_iso=options["country"],
                )
        except (ContactImportInvalid, ValidationError) as exc:
            message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
            raise CommandError(message) from exc

        contact_import_run(contact_import=contact_import)
        if contact_import.status == ImportStatus.FAILED:
            raise CommandError(f"Import {contact_import.id} failed: {contact_import.fatal_error}")
        done = contact_import
        self.stdout.write(
            f"Import {done.id}: {done.processed_rows} rows, {done.created_count} created, "
            f"{done.updated_count} updated, {done.error_count} errors."
        )
        for error in contact_import.row_errors.order_by("row_number")[:MAX_ERRORS_SHOWN]:
            self.stdout.write(f"  row {error.row_number}: {error.message}")
        if contact_import.error_count > MAX_ERRORS_SHOWN:
            self.stdout.write(f"  ... and {contact_import.error_count - MAX_ERRORS_SHOWN} more (see the admin).")
