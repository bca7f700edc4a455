import pytest

from contacts.custom_fields import InvalidCustomValue, coerce_custom_value, valid_key
from contacts.normalize import InvalidRecipient, normalise_email, normalise_phone, phone_lookup_key

# normalise_phone


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("666555444", "ES", "34666555444"),
        ("666 55 54 44", "es", "34666555444"),
        ("(666) 555-444", "ES", "34666555444"),
        ("+34 666 555 444", "ES", "34666555444"),
        ("+34666555444", None, "34666555444"),
        ("0034666555444", "FR", "34666555444"),
        ("34666555444", "ES", "34666555444"),
        ("34666555444", None, "34666555444"),
        ("900222222", "ES", "34900222222"),
        ("07400123456", "GB", "447400123456"),
    ],
)
def test_normalise_phone_gives_international_digits(raw, country, expected):
    assert normalise_phone(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        ("", "ES"),
        (None, "ES"),
        ("abc", "ES"),
        ("12", "ES"),
        ("666555444", None),
        ("3466666666", "ES"),
        ("+34 123", "ES"),
        ("6665554441234567890", "ES"),
    ],
)
def test_normalise_phone_rejects_what_cannot_be_a_phone(raw, country):
    with pytest.raises(InvalidRecipient, match="valid phone number"):
        normalise_phone(raw, country)


# phone_lookup_key


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("99000000000", "99000000000"),
        ("+34 666-555-444", "34666555444"),
        ("0034666555444", "34666555444"),
        ("(34) 666.555.444", "34666555444"),
        ("123456", "123456"),
    ],
)
def test_phone_lookup_key_keeps_the_digits_of_an_international_number(raw, expected):
    assert phone_lookup_key(raw) == expected


@pytest.mark.parametrize("raw", ["", None, "12345", "1234567890123456", "34abc666", "++34666555444"])
def test_phone_lookup_key_rejects_what_cannot_be_an_international_number(raw):
    with pytest.raises(InvalidRecipient):
        phone_lookup_key(raw)


# normalise_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Email@Example.COM", "email@example.com"),
        ("  new.contact@example.com ", "new.contact@example.com"),
        ("test+tag@example.com", "test+tag@example.com"),
    ],
)
def test_normalise_email_lower_cases_a_valid_address(raw, expected):
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw", ["", None, "not-an-email", "a@", "@example.com", "a b@example.com", "a@b@example.com"])
def test_normalise_email_rejects_invalid_addresses(raw):
    with pytest.raises(InvalidRecipient, match="valid email address"):
        normalise_email(raw)


# custom fields


@pytest.mark.parametrize("key", ["color", "Company_Name", "a", "x.y-z", "_private", "k" * 64])
def test_valid_key_accepts_simple_identifiers(key):
    assert valid_key(key)


@pytest.mark.parametrize("key", ["", None, "with space", "-leading", ".leading", "k" * 65, "ñandú", "a/b"])
def test_valid_key_rejects_other_keys(key):
    assert not valid_key(key)


@pytest.mark.parametrize(
    ("field_type", "raw", "expected"),
    [
        ("string", "  ACME inc. ", "ACME inc."),
        ("string", 42, "42"),
        ("decimal", "12.50", "12.50"),
        ("decimal", 3, "3"),
        ("decimal", "1E+2", "100"),
        ("date", "2020-01-31", "2020-01-31"),
        ("date", "2020-01-31T10:00:00Z", "2020-01-31T10:00:00+00:00"),
        ("date", "2020-01-31T10:00:00+02:00", "2020-01-31T10:00:00+02:00"),
    ],
)
def test_coerce_custom_value_gives_the_canonical_string(field_type, raw, expected):
    assert coerce_custom_value(field_type, raw) == expected


@pytest.mark.parametrize(
    ("field_type", "raw", "message"),
    [
        ("string", None, "must be a string, number or date"),
        ("string", True, "must be a string, number or date"),
        ("string", {"a": 1}, "must be a string, number or date"),
        ("string", ["a"], "must be a string, number or date"),
        ("string", "x" * 1001, "may not be greater than 1000 characters"),
        ("decimal", "twelve", "must be a decimal number"),
        ("decimal", "NaN", "must be a decimal number"),
        ("decimal", "Infinity", "must be a decimal number"),
        ("date", "31/01/2020", "must be a date in ISO 8601 format"),
        ("date", "2020-02-30", "must be a date in ISO 8601 format"),
        ("colour", "green", "has an unknown type"),
    ],
)
def test_coerce_custom_value_rejects_values_that_do_not_fit_the_type(field_type, raw, message):
    with pytest.raises(InvalidCustomValue, match=message):
        coerce_custom_value(field_type, raw)
