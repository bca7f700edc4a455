"""`manage.py export_contacts --account NAME [--format csv|xlsx] [--group NAME] OUTFILE`."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from contacts.exporting import contacts_export_write
from contacts.models import Contact, Group


class Command(BaseCommand):
    help = "Export an account's contacts (optionally only some groups' members) to a CSV or XLSX file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("outfile", help="file to write")
        parser.add_argument("--account", required=True, help="account name")
        parser.add_argument("--format", choices=["csv", "xlsx"], help="default: from the file extension, else csv")
        parser.add_argument("--group", action="append", default=[], dest="groups", help="only members of this group")

    def handle(self, *args: Any, **options: Any) -> None:
        account = Account.objects.filter(name=options["account"]).first()
        if account is None:
            raise CommandError(f'No account named "{options["account"]}".')
        queryset = Contact.objects.filter(account=account).order_by("id")
        if options["groups"]:
            groups = list(Group.objects.filter(account=account, name__in=options["groups"]))
            missing = set(options["groups"]) - {group.name for group in groups}
            if missing:
                raise CommandError(f"No group named {', '.join(sorted(missing))} in account {account.name}.")
            queryset = queryset.filter(groups__in=groups).distinct()
        outfile = options["outfile"]
        file_format = options["format"] or ("xlsx" if outfile.lower().endswith(".xlsx") else "csv")
        with Path(outfile).open("wb") as output:
            contacts_export_write(queryset=queryset, file_format=file_format, output=output)
        self.stderr.write(f"Exported {queryset.count()} contacts to {outfile}.")
