"""Country content rules for marketing SMS, applied at accept time per destination country.

`content_policy_load(account_id=…)` reads what the rules need once per send (the account's settings and the
country rules); `sms_marketing_content(text=…, country=…, purpose=…, policy=…)` is a pure function the SMS
channel calls per destination country (before measuring and pricing, so a footer is counted in the parts and
the price). It returns the final text and warnings, or raises `ComplianceRefused`. In order:

1. A country whose rule refuses public shorteners (the United States) refuses a text naming one of
   compliance/data/public_shorteners.txt (or a subdomain of one); our own short-link host (SHORT_URL_BASE,
   else PUBLIC_URL) passes. Error reason `public_shortener`, field `message`, the domain named.
2. A country with a STOP footer (France: "STOP au {code}") gets it appended, after one space, unless the
   text already carries it. Decision: an account without a STOP code cannot send marketing SMS to France —
   the send is refused with reason `stop_code_missing`, field `stop_code`, naming the setting — unless the
   text already carries a "STOP au <code>" of its own (the customer wrote it). A bare "STOP" would not be
   the opt-out instruction the French rule asks for.
3. Every marketing SMS should carry an unsubscribe option: `{UNSUB_URL}`, an opt-out keyword in capitals as
   a whole word (STOP, BAJA, ARRET, …: the keywords inbound replies understand) or the France footer. When
   it has none the account's `unsubscribe_policy` decides: `warn` (default) returns a warning and leaves the
   text alone, `append` appends the account's `stop_instruction`, `refuse` raises (reason
   `unsubscribe_missing`, field `message`).

Transactional messages pass unchanged; so does a marketing SMS to a country without a rule under the default
settings, apart from the warning.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings

from compliance.errors import ComplianceRefused
from compliance.models import ComplianceSettings, CountryRule, UnsubscribePolicy
from compliance.protocol import Purpose

SHORTENERS_FILE = Path(__file__).resolve().parent / "data" / "public_shorteners.txt"
UNSUB_VARIABLE = "{UNSUB_URL}"
# The opt-out keywords of issue 10 part 7, written in capitals in an SMS as the instruction to reply.
OPT_OUT_WORDS = (
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "ARRET",
    "ARRÊT",
    "BAJA",
    "ALTO",
    "STOPP",
    "PARAR",
    "SAIR",
    "DESISCRIVI",
)
_OPT_OUT = re.compile(r"(?<!\w)(?:" + "|".join(OPT_OUT_WORDS) + r")(?!\w)")
_DOMAIN = re.compile(r"(?<![\w.@-])((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,})(?![\w-])", re.IGNORECASE)
_ANY_FRENCH_FOOTER = re.compile(r"\bSTOP\s+au\s+\S+", re.IGNORECASE)

MISSING_UNSUBSCRIBE = (
    "The message has no unsubscribe option ({UNSUB_URL}, a STOP instruction or the France footer), "
    "which marketing SMS should carry."
)


@functools.cache
def public_shorteners() -> frozenset[str]:
    lines = SHORTENERS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def own_short_hosts() -> frozenset[str]:
    bases = [getattr(settings, "SHORT_URL_BASE", ""), settings.PUBLIC_URL]
    return frozenset(host.lower() for base in bases if base and (host := urlsplit(base).hostname))


@dataclass(frozen=True, slots=True)
class ContentPolicy:
    stop_code: str
    unsubscribe_policy: str
    stop_instruction: str
    footers: dict[str, str]  # country → footer template with {code}
    shortener_countries: frozenset[str]
    shorteners: frozenset[str]
    own_hosts: frozenset[str]


@dataclass(frozen=True, slots=True)
class ContentResult:
    text: str
    warnings: tuple[str, ...] = ()


def content_policy_load(*, account_id: int) -> ContentPolicy:
    """What the content rules need for one account's send: two queries, once per send."""
    account_settings = ComplianceSettings.objects.filter(account_id=account_id).first()
    if account_settings is None:
        account_settings = ComplianceSettings()  # the defaults, unsaved
    footers: dict[str, str] = {}
    shortener_countries: set[str] = set()
    for country, footer, refuses in CountryRule.objects.values_list(
        "country", "stop_footer", "public_shorteners_refused"
    ):
        if footer:
            footers[country] = footer
        if refuses:
            shortener_countries.add(country)
    return ContentPolicy(
        stop_code=account_settings.stop_code,
        unsubscribe_policy=account_settings.unsubscribe_policy,
        stop_instruction=account_settings.stop_instruction,
        footers=footers,
        shortener_countries=frozenset(shortener_countries),
        shorteners=public_shorteners(),
        own_hosts=own_short_hosts(),
    )


def _append(text: str, tail: str) -> str:
    return text + tail if not text or text[-1].isspace() else f"{text} {tail}"


def _public_shortener_in(text: str, policy: ContentPolicy) -> str | None:
    for match in _DOMAIN.finditer(text):
        domain = match.group(1).lower()
        if domain in policy.own_hosts:
            continue
        for shortener in policy.shorteners:
            if domain == shortener or domain.endswith("." + shortener):
                return domain
    return None


def has_unsubscribe_option(text: str) -> bool:
    return UNSUB_VARIABLE in text or _OPT_OUT.search(text) is not None


def sms_marketing_content(*, text: str, country: str | None, purpose: str, policy: ContentPolicy) -> ContentResult:
    """The text to send to `country` and the warnings for the sender; ComplianceRefused when it may not go."""
    if purpose != Purpose.MARKETING:
        return ContentResult(text)
    if country in policy.shortener_countries:
        domain = _public_shortener_in(text, policy)
        if domain is not None:
            raise ComplianceRefused(
                "public_shortener",
                "message",
                f"Marketing SMS to {country} may not contain a public URL shortener ({domain}); "
                "use the platform's own short links.",
            )
    footer = policy.footers.get(country) if country else None
    if footer:
        if policy.stop_code:
            expected = footer.format(code=policy.stop_code)
            if expected.lower() not in text.lower():
                text = _append(text, expected)
        elif not _ANY_FRENCH_FOOTER.search(text):
            raise ComplianceRefused(
                "stop_code_missing",
                "stop_code",
                f"Marketing SMS to {country} must end with '{footer.format(code='<code>')}': "
                "set the STOP code in Settings → Compliance.",
            )
    if has_unsubscribe_option(text):
        return ContentResult(text)
    if policy.unsubscribe_policy == UnsubscribePolicy.APPEND:
        return ContentResult(_append(text, policy.stop_instruction))
    if policy.unsubscribe_policy == UnsubscribePolicy.REFUSE:
        raise ComplianceRefused("unsubscribe_missing", "message", MISSING_UNSUBSCRIBE)
    return ContentResult(text, (MISSING_UNSUBSCRIBE,))
