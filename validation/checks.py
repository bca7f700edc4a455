"""The checks an email validation job runs on each address, in this order:

1. Syntax and normalisation (email-validator through `contacts.normalize.normalise_email`, no DNS):
   an address that fails is `undeliverable`.
2. The domain through DNS (dnspython): NXDOMAIN, a null MX (RFC 7505: a single MX whose exchange
   is "."), or neither MX nor A/AAAA records is `undeliverable`; an MX record, or no MX but an A or
   AAAA record (the implicit MX of RFC 5321 section 5.1), passes. When DNS cannot be reached (timeout,
   no usable nameserver, no resolver configuration) or answers with an error, the address is `risky`:
   the job never crashes on DNS.
3. An address at a disposable-email provider (data/disposable_domains.txt, subdomains included) is
   `risky`, not `undeliverable`: the mailbox exists and receives mail, but the person behind it will
   soon be gone (with allowRisky false the job blacklists it anyway).
4. A role account (data/role_accounts.txt: postmaster, info, noreply... before any "+tag") is `risky`.
   Steps 3 and 4 apply unless DNS said `undeliverable`, and they outrank a DNS failure: the lists are
   evidence about the address, a failed lookup is not.
5. Anything else is `deliverable`.

DNS answers are cached per domain in a `DomainChecker`, which lives for one run of a job, so a
100k-address job queries each distinct domain once; new domains of a batch are resolved in parallel.
After UNREACHABLE_STREAK_LIMIT lookups in a row could not reach DNS at all, the checker stops
querying for the rest of its life (every further domain is `risky`, "dns_unreachable") instead of
waiting for a timeout per domain.
"""

import functools
import logging
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
from django.conf import settings

from contacts.normalize import InvalidRecipient, normalise_email
from validation.models import EmailReason, EmailResult

logger = logging.getLogger(__name__)

DATA_DIR: Final = Path(__file__).resolve().parent / "data"
DNS_CONCURRENCY: Final = 16
UNREACHABLE_STREAK_LIMIT: Final = 10


@dataclass(frozen=True)
class Verdict:
    result: str
    reason: str


@dataclass(frozen=True)
class EmailCheck:
    """The outcome for one input: `address` is the normalised address, None when the syntax failed."""

    address: str | None
    result: str
    reason: str


SYNTAX_ERROR: Final = Verdict(EmailResult.UNDELIVERABLE, EmailReason.SYNTAX)
NO_DOMAIN: Final = Verdict(EmailResult.UNDELIVERABLE, EmailReason.NO_DOMAIN)
NULL_MX: Final = Verdict(EmailResult.UNDELIVERABLE, EmailReason.NULL_MX)
NO_MAIL_SERVER: Final = Verdict(EmailResult.UNDELIVERABLE, EmailReason.NO_MAIL_SERVER)
MAIL_SERVER: Final = Verdict(EmailResult.DELIVERABLE, EmailReason.MAIL_SERVER)
IMPLICIT_MX: Final = Verdict(EmailResult.DELIVERABLE, EmailReason.IMPLICIT_MX)
DNS_ERROR: Final = Verdict(EmailResult.RISKY, EmailReason.DNS_ERROR)
DNS_UNREACHABLE: Final = Verdict(EmailResult.RISKY, EmailReason.DNS_UNREACHABLE)
DISPOSABLE: Final = Verdict(EmailResult.RISKY, EmailReason.DISPOSABLE)
ROLE: Final = Verdict(EmailResult.RISKY, EmailReason.ROLE)


# ---------------------------------------------------------------------------------------------
# Lists


def _read_list(name: str) -> frozenset[str]:
    lines = (DATA_DIR / name).read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


@functools.cache
def disposable_domains() -> frozenset[str]:
    return _read_list("disposable_domains.txt")


@functools.cache
def role_accounts() -> frozenset[str]:
    return _read_list("role_accounts.txt")


def is_disposable(domain: str) -> bool:
    """Whether the domain, or a parent domain of it, is a disposable provider's."""
    labels = domain.lower().rstrip(".").split(".")
    listed = disposable_domains()
    return any(".".join(labels[index:]) in listed for index in range(len(labels) - 1))


def is_role_account(local_part: str) -> bool:
    return local_part.lower().split("+", 1)[0] in role_accounts()


# ---------------------------------------------------------------------------------------------
# DNS


class DnsUnavailable(Exception):
    """No resolver could be built (no nameserver configured and no /etc/resolv.conf)."""


def dns_resolver() -> dns.resolver.Resolver:
    """A resolver from the EMAIL_VALIDATION_DNS_* settings; the system's when no nameserver is set."""
    nameservers = list(settings.EMAIL_VALIDATION_DNS_NAMESERVERS)
    try:
        resolver = dns.resolver.Resolver(configure=not nameservers)
    except dns.resolver.NoResolverConfiguration as exc:
        raise DnsUnavailable(str(exc)) from exc
    if nameservers:
        try:
            resolver.nameservers = nameservers
        except ValueError as exc:
            raise DnsUnavailable(f"invalid EMAIL_VALIDATION_DNS_NAMESERVERS: {exc}") from exc
    resolver.port = settings.EMAIL_VALIDATION_DNS_PORT
    resolver.timeout = settings.EMAIL_VALIDATION_DNS_TIMEOUT
    resolver.lifetime = settings.EMAIL_VALIDATION_DNS_LIFETIME
    if not resolver.nameservers:
        raise DnsUnavailable("no nameserver configured")
    return resolver


class _Unreachable(Exception):
    """No nameserver answered."""


class _ErrorAnswer(Exception):
    """A nameserver answered with an error (SERVFAIL, REFUSED...)."""


class DomainChecker:
    """DNS verdicts per domain, each looked up once for the checker's life (one run of a job)."""

    def __init__(self, resolver: dns.resolver.Resolver | None = None, *, concurrency: int = DNS_CONCURRENCY):
        self.resolver = resolver
        self.concurrency = concurrency
        self.lookups = 0
        self._cache: dict[str, Verdict] = {}
        self._unreachable_streak = 0
        self._lock = threading.Lock()
        if self.resolver is None:
            try:
                self.resolver = dns_resolver()
            except DnsUnavailable as exc:
                logger.warning("Email validation without DNS: %s", exc)
                self._unreachable_streak = UNREACHABLE_STREAK_LIMIT

    def verdicts(self, domains: Iterable[str]) -> dict[str, Verdict]:
        wanted = list(dict.fromkeys(domain.lower() for domain in domains))
        missing = [domain for domain in wanted if domain not in self._cache]
        if len(missing) > 1 and self.concurrency > 1:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(missing))) as pool:
                found = list(pool.map(self._lookup, missing))
        else:
            found = [self._lookup(domain) for domain in missing]
        self._cache.update(zip(missing, found, strict=True))
        return {domain: self._cache[domain] for domain in wanted}

    def verdict(self, domain: str) -> Verdict:
        return self.verdicts([domain])[domain.lower()]

    def _lookup(self, domain: str) -> Verdict:
        with self._lock:
            if self._unreachable_streak >= UNREACHABLE_STREAK_LIMIT:
                return DNS_UNREACHABLE
            self.lookups += 1
        try:
            verdict = self._resolve(domain)
        except _Unreachable:
            verdict = DNS_UNREACHABLE
        except _ErrorAnswer:
            verdict = DNS_ERROR
        except Exception:
            # A DNS library surprise must cost one address its certainty, never the job.
            logger.exception("DNS lookup of %s failed", domain)
            verdict = DNS_ERROR
        with self._lock:
            if verdict == DNS_UNREACHABLE:
                self._unreachable_streak += 1
            else:
                self._unreachable_streak = 0
        return verdict

    def _resolve(self, domain: str) -> Verdict:
        try:
            name = dns.name.from_text(domain)
        except (dns.exception.DNSException, UnicodeError):
            return SYNTAX_ERROR
        mx = self._query(name, dns.rdatatype.MX)
        if mx is None:
            return NO_DOMAIN
        if mx:
            exchanges = [record.exchange for record in mx]
            if all(exchange == dns.name.root for exchange in exchanges):
                return NULL_MX
            return MAIL_SERVER
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            addresses = self._query(name, rdtype)
            if addresses is None:
                return NO_DOMAIN
            if addresses:
                return IMPLICIT_MX
        return NO_MAIL_SERVER

    def _query(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> list | None:
        """The records of that type ([] when there are none), or None for NXDOMAIN."""
        assert self.resolver is not None
        try:
            answer = self.resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return None
        except dns.resolver.NoNameservers as exc:
            # Every nameserver failed: if one of them answered (SERVFAIL, REFUSED...), the domain's
            # DNS is broken; if none answered at all, it is ours that cannot be reached.
            errors = exc.kwargs.get("errors") or []
            if any(len(error) > 4 and error[4] is not None for error in errors):
                raise _ErrorAnswer from exc
            raise _Unreachable from exc
        except (dns.exception.Timeout, OSError) as exc:
            raise _Unreachable from exc
        return list(answer.rrset) if answer.rrset is not None else []


# ---------------------------------------------------------------------------------------------
# Addresses


class ParsedEmail(NamedTuple):
    address: str  # normalised
    local_part: str
    domain: str


def email_parse(raw: str) -> ParsedEmail | None:
    """The normalised address and its parts, or None when it is not a valid address."""
    try:
        address = normalise_email(raw)
    except InvalidRecipient:
        return None
    local_part, _, domain = address.rpartition("@")
    return ParsedEmail(address, local_part, domain)


def parsed_emails_check(parsed: Sequence[ParsedEmail | None], *, checker: DomainChecker) -> list[EmailCheck]:
    """Every check above for each parsed input (None: invalid syntax), in order; the domains are
    resolved together."""
    verdicts = checker.verdicts(item.domain for item in parsed if item is not None)
    return [_combine(item, verdicts) for item in parsed]


def emails_check(raws: Sequence[str], *, checker: DomainChecker) -> list[EmailCheck]:
    return parsed_emails_check([email_parse(raw) for raw in raws], checker=checker)


def email_check(raw: str, *, checker: DomainChecker) -> EmailCheck:
    return emails_check([raw], checker=checker)[0]


def _combine(parsed: ParsedEmail | None, verdicts: dict[str, Verdict]) -> EmailCheck:
    if parsed is None:
        return EmailCheck(None, SYNTAX_ERROR.result, SYNTAX_ERROR.reason)
    verdict = verdicts[parsed.domain.lower()]
    # An undeliverable domain stays undeliverable; otherwise the lists are evidence that outranks
    # a DNS failure (a disposable address is risky whether or not DNS could be asked).
    if verdict.result != EmailResult.UNDELIVERABLE:
        if is_disposable(parsed.domain):
            verdict = DISPOSABLE
        elif is_role_account(parsed.local_part):
            verdict = ROLE
    return EmailCheck(parsed.address, verdict.result, verdict.reason)
