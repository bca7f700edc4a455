"""A ready-to-try installation: a demo account with contacts, and an operator for the admin."""

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.urls import reverse

from accounts.models import Account, User
from accounts.services import api_password_generate, api_user_provision
from contacts.custom_fields import coerce_custom_value
from contacts.models import Contact, CustomField, CustomFieldType, Group, Membership
from contacts.normalize import normalise_phone

DEMO_ACCOUNT = "Demo"
DEMO_USERNAME = "demo"
DEMO_SENDER = "demo@example.com"
DEMO_BALANCE = Decimal("100")
OPERATOR_USERNAME = "admin"

DEMO_GROUPS = ["Customers", "Newsletter", "VIP"]
DEMO_CUSTOM_FIELDS = {
    "city": CustomFieldType.STRING,
    "birthday": CustomFieldType.DATE,
    "loyalty_points": CustomFieldType.DECIMAL,
}
DEMO_CONTACT_COUNT = 50
_FIRST_NAMES = ["Ana", "Luis", "Marta", "Jorge", "Lucía", "Pablo", "Elena", "Carlos", "Sara", "David"]
_SURNAMES = ["García", "Martín", "López", "Sánchez", "Pérez"]
_CITIES = ["Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Zaragoza", "Málaga"]


def _login_password_generate() -> str:
    return secrets.token_urlsafe(12)


def demo_contact_rows() -> list[dict]:
    """The demo contacts, always the same, so running the command again finds them instead of
    adding new ones."""
    rows = []
    for index in range(DEMO_CONTACT_COUNT):
        name = _FIRST_NAMES[index % len(_FIRST_NAMES)]
        surname = _SURNAMES[(index // len(_FIRST_NAMES)) % len(_SURNAMES)]
        rows.append(
            {
                "email": f"contact{index + 1:02d}@example.com",
                "phone": normalise_phone(f"6000000{index + 1:02d}", "ES"),
                "country_iso": "ES",
                "name": name,
                "surname": surname,
                "external_id": f"DEMO-{index + 1:03d}",
                "custom_fields": {
                    "city": coerce_custom_value(CustomFieldType.STRING, _CITIES[index % len(_CITIES)]),
                    "birthday": coerce_custom_value(
                        CustomFieldType.DATE, f"{1960 + index % 40}-{1 + index % 12:02d}-{1 + index % 28:02d}"
                    ),
                    "loyalty_points": coerce_custom_value(CustomFieldType.DECIMAL, f"{(index * 37) % 500}.50"),
                },
            }
        )
    return rows


class Command(BaseCommand):
    help = (
        f'Set up a demo: account "{DEMO_ACCOUNT}" with user "{DEMO_USERNAME}" (web and API), groups and '
        f'{DEMO_CONTACT_COUNT} contacts, and an operator "{OPERATOR_USERNAME}" for the admin. Safe to run '
        "again: the data is kept and the passwords are reset (new random ones unless --password is given)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password",
            help="Use this password for the demo web login, the demo API password and the operator, "
            "instead of random ones (for scripted runs).",
        )

    def handle(self, *args: object, **options: object) -> None:
        fixed = options["password"]
        if fixed is not None and not fixed.strip():
            raise CommandError("The password may not be empty; omit --password to generate them.")
        login_password = fixed or _login_password_generate()
        api_password = fixed or api_password_generate()
        operator_password = fixed or _login_password_generate()

        with transaction.atomic():
            self._refuse_to_take_over_foreign_users()
            user, api_password = api_user_provision(
                username=DEMO_USERNAME,
                api_password=api_password,
                login_password=login_password,
                account_name=DEMO_ACCOUNT,
                balance=DEMO_BALANCE,
                senders=[DEMO_SENDER],
                email=DEMO_SENDER,
            )
            if not user.is_active:
                user.is_active = True
                user.save(update_fields=["is_active"])
            account = user.account
            groups = self._groups(account)
            self._custom_fields(account)
            created_contacts = self._contacts(account, groups)
            self._operator(operator_password)

        self._report(account, created_contacts, login_password, api_password, operator_password)

    def _refuse_to_take_over_foreign_users(self) -> None:
        # The command resets passwords; it must never grab a real user who happens to share a name.
        demo = User.objects.select_related("account").filter(username=DEMO_USERNAME).first()
        foreign_account = demo is not None and demo.account is not None and demo.account.name != DEMO_ACCOUNT
        if demo is not None and (demo.is_staff or demo.is_superuser or foreign_account):
            raise CommandError(
                f'A user "{DEMO_USERNAME}" already exists and is not the demo user (it is staff or belongs '
                "to another account); nothing was changed."
            )
        operator = User.objects.filter(username=OPERATOR_USERNAME).first()
        if operator is not None and operator.account_id is not None:
            raise CommandError(
                f'A user "{OPERATOR_USERNAME}" already exists in an account, so it cannot become the demo '
                "operator; nothing was changed."
            )

    def _groups(self, account: Account) -> list[Group]:
        return [Group.objects.get_or_create(account=account, name=name)[0] for name in DEMO_GROUPS]

    def _custom_fields(self, account: Account) -> None:
        for key, field_type in DEMO_CUSTOM_FIELDS.items():
            CustomField.objects.get_or_create(account=account, key=key, defaults={"type": field_type})

    def _contacts(self, account: Account, groups: list[Group]) -> int:
        """Adds the demo contacts that are missing; contacts already there, edited or not, are left alone."""
        rows = demo_contact_rows()
        existing = Contact.objects.filter(account=account)
        taken_emails = set(existing.filter(email__in=[row["email"] for row in rows]).values_list("email", flat=True))
        taken_phones = set(existing.filter(phone__in=[row["phone"] for row in rows]).values_list("phone", flat=True))
        missing = [row for row in rows if row["email"] not in taken_emails and row["phone"] not in taken_phones]
        contacts = Contact.objects.bulk_create(Contact(account=account, **row) for row in missing)
        customers, newsletter, vip = groups
        memberships = []
        for position, contact in enumerate(contacts):
            memberships.append(Membership(contact=contact, group=customers))
            if position % 2 == 0:
                memberships.append(Membership(contact=contact, group=newsletter))
            if position % 5 == 0:
                memberships.append(Membership(contact=contact, group=vip))
        Membership.objects.bulk_create(memberships, ignore_conflicts=True)
        return len(contacts)

    def _operator(self, password: str) -> User:
        operator = User.objects.filter(username=OPERATOR_USERNAME).first() or User(username=OPERATOR_USERNAME)
        operator.is_active = operator.is_staff = operator.is_superuser = True
        operator.set_password(password)
        operator.save()
        return operator

    def _report(
        self, account: Account, created_contacts: int, login_password: str, api_password: str, operator_password: str
    ) -> None:
        base = settings.PUBLIC_URL
        api_base = f"{base}/api/rest/"
        contacts = Contact.objects.filter(account=account).count()
        groups = Group.objects.filter(account=account).count()
        lines = [
            self.style.SUCCESS(f"Demo ready ({created_contacts} contacts added)."),
            "",
            f"  Web UI:    {base}{reverse('home')}",
            f"  Admin:     {base}{reverse('admin:index')}",
            f"  API docs:  {base}{reverse('api-docs')}",
            f"  API base:  {api_base}",
            "",
            f'  Account "{account.name}": balance {account.balance:.2f} {account.currency}, '
            f"{contacts} contacts, {groups} groups, verified sender {DEMO_SENDER}",
            f"    Web login:      {DEMO_USERNAME} / {login_password}",
            f"    API password:   {DEMO_USERNAME} / {api_password}",
            f"    Try it:         curl -u '{DEMO_USERNAME}:{api_password}' {api_base}groups",
            "  Operator (admin site only, no account)",
            f"    Admin login:    {OPERATOR_USERNAME} / {operator_password}",
            "",
            "Running the command again keeps the data and resets these passwords.",
        ]
        self.stdout.write("\n".join(lines))
