"""The checks run on each address, with DNS served by a stub server on 127.0.0.1, and with DNS
unreachable (risky, never a crash)."""

import time

import dns.resolver
import pytest

from tests.validation.conftest import ZONE, StubDns, point_dns_at
from validation.checks import (
    UNREACHABLE_STREAK_LIMIT,
    DomainChecker,
    disposable_domains,
    email_check,
    emails_check,
    is_disposable,
    is_role_account,
    role_accounts,
)
from validation.models import EmailReason, EmailResult


def check(address: str) -> tuple[str, str]:
    outcome = email_check(address, checker=DomainChecker())
    return outcome.result, outcome.reason


# ---------------------------------------------------------------------------------------------
# DNS answers


def test_domain_with_mx_records_is_deliverable(dns_server):
    assert check("john.doe@acme-mail.com") == (EmailResult.DELIVERABLE, EmailReason.MAIL_SERVER)


def test_address_is_normalised_before_checking(dns_server):
    outcome = email_check("  John.Doe@ACME-Mail.com ", checker=DomainChecker())
    assert outcome.address == "john.doe@acme-mail.com"
    assert outcome.result == EmailResult.DELIVERABLE


def test_domain_that_does_not_exist_is_undeliverable(dns_server):
    assert check("someone@no-such-domain-at-all.com") == (EmailResult.UNDELIVERABLE, EmailReason.NO_DOMAIN)


def test_null_mx_is_undeliverable_even_with_an_address_record(dns_server):
    assert check("someone@null-mx.com") == (EmailResult.UNDELIVERABLE, EmailReason.NULL_MX)


def test_no_mx_but_an_a_record_is_deliverable_through_the_implicit_mx(dns_server):
    assert check("someone@a-only.com") == (EmailResult.DELIVERABLE, EmailReason.IMPLICIT_MX)


def test_no_mx_but_an_aaaa_record_is_deliverable_through_the_implicit_mx(dns_server):
    assert check("someone@aaaa-only.com") == (EmailResult.DELIVERABLE, EmailReason.IMPLICIT_MX)


def test_domain_without_mx_a_or_aaaa_is_undeliverable(dns_server):
    assert check("someone@no-mail.com") == (EmailResult.UNDELIVERABLE, EmailReason.NO_MAIL_SERVER)


def test_domain_whose_dns_answers_servfail_is_risky(dns_server):
    assert check("someone@broken-dns.com") == (EmailResult.RISKY, EmailReason.DNS_ERROR)


def test_null_mx_next_to_a_real_mx_is_ignored(settings):
    server = StubDns({"mixed.com": {"MX": ["0 .", "10 mx.mixed.com."]}})
    point_dns_at(settings, server.port)
    try:
        assert check("a@mixed.com") == (EmailResult.DELIVERABLE, EmailReason.MAIL_SERVER)
    finally:
        server.close()


# ---------------------------------------------------------------------------------------------
# Syntax, disposable providers, role accounts


@pytest.mark.parametrize(
    "raw", ["notvalid", "two@@example.com", "no-domain@", "@example.com", "a b@example.com", "x@localhost"]
)
def test_invalid_syntax_is_undeliverable_without_any_dns_query(dns_server, raw):
    outcome = email_check(raw, checker=DomainChecker())
    assert (outcome.address, outcome.result, outcome.reason) == (None, EmailResult.UNDELIVERABLE, EmailReason.SYNTAX)
    assert dns_server.queries == []


def test_disposable_provider_is_risky(dns_server):
    assert check("temp123@mailinator.com") == (EmailResult.RISKY, EmailReason.DISPOSABLE)


def test_subdomain_of_a_disposable_provider_is_risky(dns_server):
    assert check("temp123@eu.mailinator.com") == (EmailResult.RISKY, EmailReason.DISPOSABLE)


def test_disposable_domain_that_does_not_exist_is_undeliverable(dns_server):
    assert "guerrillamail.com" not in ZONE
    assert check("temp@guerrillamail.com") == (EmailResult.UNDELIVERABLE, EmailReason.NO_DOMAIN)


@pytest.mark.parametrize("local_part", ["postmaster", "info", "admin", "noreply", "support", "Sales", "abuse+x"])
def test_role_account_is_risky(dns_server, local_part):
    assert check(f"{local_part}@acme-mail.com") == (EmailResult.RISKY, EmailReason.ROLE)


def test_role_account_on_a_domain_without_mail_is_undeliverable(dns_server):
    assert check("info@no-mail.com") == (EmailResult.UNDELIVERABLE, EmailReason.NO_MAIL_SERVER)


def test_lists_ship_thousands_of_disposable_domains_and_the_usual_role_accounts():
    domains = disposable_domains()
    assert len(domains) > 5000
    assert {"mailinator.com", "guerrillamail.com", "yopmail.com", "10minutemail.com"} <= domains
    assert not {"gmail.com", "outlook.com", "yahoo.com", "example.com"} & domains
    assert {"admin", "info", "support", "sales", "noreply", "postmaster", "abuse", "webmaster"} <= role_accounts()
    assert is_disposable("MAILINATOR.COM")
    assert not is_disposable("com")
    assert is_role_account("NoReply+news")
    assert not is_role_account("john.doe")


# ---------------------------------------------------------------------------------------------
# One DNS lookup per domain


def test_each_domain_is_looked_up_once_however_many_addresses_use_it(dns_server):
    checker = DomainChecker()
    addresses = [f"user{index}@acme-mail.com" for index in range(300)] + ["x@a-only.com", "y@a-only.com"]
    outcomes = emails_check(addresses, checker=checker)
    outcomes += emails_check(["again@acme-mail.com", "z@a-only.com"], checker=checker)
    assert {outcome.result for outcome in outcomes} == {EmailResult.DELIVERABLE}
    assert dns_server.queried("acme-mail.com") == 1
    assert dns_server.queried("a-only.com") == 2  # MX (none), then A
    assert checker.lookups == 2


def test_an_injected_resolver_is_used():
    class Refusing(dns.resolver.Resolver):
        def __init__(self):
            super().__init__(configure=False)
            self.nameservers = ["127.0.0.1"]
            self.asked: list[str] = []

        def resolve(self, qname, rdtype, **kwargs):
            self.asked.append(str(qname))
            raise dns.resolver.NXDOMAIN

    resolver = Refusing()
    outcome = email_check("x@anything.com", checker=DomainChecker(resolver))
    assert (outcome.result, outcome.reason) == (EmailResult.UNDELIVERABLE, EmailReason.NO_DOMAIN)
    assert resolver.asked == ["anything.com."]


# ---------------------------------------------------------------------------------------------
# DNS unreachable


def test_dns_that_never_answers_makes_addresses_risky(silent_dns):
    assert check("john@acme-mail.com") == (EmailResult.RISKY, EmailReason.DNS_UNREACHABLE)


def test_dns_port_refusing_queries_makes_addresses_risky(closed_dns):
    assert check("john@acme-mail.com") == (EmailResult.RISKY, EmailReason.DNS_UNREACHABLE)


def test_without_any_resolver_configuration_addresses_are_risky(settings, monkeypatch):
    settings.EMAIL_VALIDATION_DNS_NAMESERVERS = []

    def no_configuration(self, *args, **kwargs):
        raise dns.resolver.NoResolverConfiguration("no resolv.conf")

    monkeypatch.setattr(dns.resolver.Resolver, "read_resolv_conf", no_configuration)
    assert check("john@acme-mail.com") == (EmailResult.RISKY, EmailReason.DNS_UNREACHABLE)


def test_a_misconfigured_nameserver_setting_makes_addresses_risky(settings):
    settings.EMAIL_VALIDATION_DNS_NAMESERVERS = ["not-an-ip-address"]
    assert check("john@acme-mail.com") == (EmailResult.RISKY, EmailReason.DNS_UNREACHABLE)


def test_lists_still_apply_when_dns_is_unreachable(closed_dns):
    assert check("temp@mailinator.com") == (EmailResult.RISKY, EmailReason.DISPOSABLE)
    assert check("info@acme-mail.com") == (EmailResult.RISKY, EmailReason.ROLE)
    assert check("not an address") == (EmailResult.UNDELIVERABLE, EmailReason.SYNTAX)


def test_unreachable_dns_is_given_up_after_a_streak_instead_of_timing_out_per_domain(silent_dns, settings):
    settings.EMAIL_VALIDATION_DNS_TIMEOUT = 0.1
    settings.EMAIL_VALIDATION_DNS_LIFETIME = 0.2
    checker = DomainChecker(concurrency=1)
    domains = [f"domain{index}.com" for index in range(UNREACHABLE_STREAK_LIMIT + 40)]
    started = time.monotonic()
    outcomes = emails_check([f"a@{domain}" for domain in domains], checker=checker)
    elapsed = time.monotonic() - started
    assert {outcome.reason for outcome in outcomes} == {EmailReason.DNS_UNREACHABLE}
    assert checker.lookups == UNREACHABLE_STREAK_LIMIT
    assert elapsed < UNREACHABLE_STREAK_LIMIT * 0.2 + 3


def test_a_resolver_that_raises_something_unexpected_costs_one_address_not_the_job():
    class Exploding(dns.resolver.Resolver):
        def __init__(self):
            super().__init__(configure=False)
            self.nameservers = ["127.0.0.1"]

        def resolve(self, qname, rdtype, **kwargs):
            raise RuntimeError("library bug")

    outcome = email_check("x@acme-mail.com", checker=DomainChecker(Exploding()))
    assert (outcome.result, outcome.reason) == (EmailResult.RISKY, EmailReason.DNS_ERROR)
