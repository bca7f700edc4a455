"""Non-interactive provisioning of an API user, for scripted deployments and CI."""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import Account, ApiCredential, User, validate_ip_networks
from accounts.services import api_credential_set_allowed_ips, api_user_provision, verified_sender_email_clean


@dataclass(frozen=True)
class ProvisionRequest:
    username: str
    api_password: str | None
    login_password: str | None
    account_name: str | None
    balance: Decimal | None
    senders: list[str]
    email: str
    allowed_ips: list[str] | None


class Command(BaseCommand):
    help = (
        "Create or update an account, its API user, API password, verified senders and IP allowlist. "
        "Safe to run again: an existing user is updated. Without --api-password a new API password is "
        "generated (replacing the current one) and printed once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="Login and API username.")
        parser.add_argument(
            "--api-password",
            help="API password for HTTP Basic auth. When omitted, a random one is generated and printed once.",
        )
        parser.add_argument(
            "--password",
            dest="login_password",
            help="Web login password. Without it a new user cannot sign in to the web UI; "
            "an existing user keeps the current one.",
        )
        parser.add_argument(
            "--account",
            dest="account_name",
            help="Account name, created if missing. Default: the user's current account, or the "
            "username for a new user.",
        )
        parser.add_argument("--balance", help="Set the account balance, e.g. 100 or 25.50.")
        parser.add_argument(
            "--sender",
            dest="senders",
            action="append",
            default=[],
            metavar="EMAIL",
            help="Verified sender address; repeat for several. Existing senders are kept.",
        )
        parser.add_argument("--email", default="", help="The user's email address.")
        parser.add_argument(
            "--allow-ip",
            dest="allowed_ips",
            action="append",
            metavar="CIDR",
            help="Address or CIDR range allowed to call the API; repeat for several. Replaces the "
            "current allowlist; without it the allowlist is left as it is (empty allows any address).",
        )

    def handle(self, *args: object, **options: object) -> None:
        request = self._validated(options)
        with transaction.atomic():
            created = not User.objects.filter(username=request.username).exists()
            try:
                user, api_password = api_user_provision(
                    username=request.username,
                    api_password=request.api_password,
                    login_password=request.login_password,
                    account_name=request.account_name,
                    balance=request.balance,
                    senders=request.senders,
                    email=request.email,
                )
                if request.allowed_ips is not None:
                    api_credential_set_allowed_ips(user=user, allowed_ips=request.allowed_ips)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from exc

        account = user.account
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f'{verb} API user "{user.username}" in account "{account.name}".'))
        self.stdout.write(f"Balance: {account.balance.normalize():f} {account.currency}")
        senders = ", ".join(account.verified_senders.values_list("email", flat=True)) or "none"
        self.stdout.write(f"Verified senders: {senders}")
        allowed = ", ".join(ApiCredential.objects.get(user=user).allowed_ips) or "any address"
        self.stdout.write(f"API allowed from: {allowed}")
        if request.api_password:
            self.stdout.write("API password: set to the value given with --api-password.")
        else:
            self.stdout.write(f"API password (shown once, store it now): {api_password}")

    def _validated(self, options: dict) -> ProvisionRequest:
        """Every argument checked before anything is written, so bad input changes nothing."""
        username = str(options["username"]).strip()
        try:
            User.username_validator(username)
        except ValidationError as exc:
            raise CommandError(f"Invalid username {username!r}: {exc.messages[0]}") from exc
        if not username or len(username) > User._meta.get_field("username").max_length:
            raise CommandError("The username must have between 1 and 150 characters.")

        api_password = options["api_password"]
        if api_password is not None and not api_password.strip():
            raise CommandError("The API password may not be empty; omit --api-password to generate one.")
        login_password = options["login_password"]
        if login_password is not None and not login_password.strip():
            raise CommandError("The login password may not be empty.")

        account_name = options["account_name"]
        if account_name is not None:
            account_name = account_name.strip()
            if not account_name or len(account_name) > Account._meta.get_field("name").max_length:
                raise CommandError("The account name must have between 1 and 150 characters.")

        email = str(options["email"] or "").strip()
        if email:
            try:
                validate_email(email)
            except ValidationError as exc:
                raise CommandError(f"Invalid --email {email!r}: enter a valid email address.") from exc

        senders = []
        for sender in options["senders"]:
            try:
                senders.append(verified_sender_email_clean(sender))
            except ValidationError as exc:
                raise CommandError(f"Invalid --sender {sender!r}: enter a valid email address.") from exc

        allowed_ips = options["allowed_ips"]
        if allowed_ips is not None:
            allowed_ips = [item.strip() for item in allowed_ips]
            for item in allowed_ips:
                try:
                    validate_ip_networks([item])
                except ValidationError as exc:
                    raise CommandError(
                        f"Invalid --allow-ip {item!r}: give an IP address (203.0.113.7) or a CIDR range "
                        "(198.51.100.0/24)."
                    ) from exc

        return ProvisionRequest(
            username=username,
            api_password=api_password,
            login_password=login_password,
            account_name=account_name,
            balance=_parse_balance(options["balance"]),
            senders=senders,
            email=email,
            allowed_ips=allowed_ips,
        )


def _parse_balance(raw: str | None) -> Decimal | None:
    if raw is None:
        return None
    field = Account._meta.get_field("balance")
    message = (
        f"Invalid --balance {raw!r}: give a number of at least 0 with at most "
        f"{field.decimal_places} decimal places, such as 100 or 25.50."
    )
    try:
        value = Decimal(raw.strip())
    except InvalidOperation as exc:
        raise CommandError(message) from exc
    if not value.is_finite() or value < 0:
        raise CommandError(message)
    try:
        field.run_validators(value)
    except ValidationError as exc:
        raise CommandError(message) from exc
    return value
