"""Message personalisation: the spec's substitution variables and custom fields filters."""

from collections import ChainMap
from decimal import Decimal

import pytest

from messaging.rendering import (
    FILTERS,
    UnknownFilter,
    compile_template,
    is_reserved,
    set_url_shortener,
)


def render(text: str, **values: object) -> str:
    return compile_template(text).render(values)


@pytest.fixture(autouse=True)
def no_url_shortener():
    # The shortener hook is process-wide: every test starts without one and leaves none behind.
    previous = set_url_shortener(None)
    yield
    set_url_shortener(previous)


# --- substitution -------------------------------------------------------------------------------


def test_spec_sample_substitutes_each_recipient_sub_values():
    template = compile_template("Hello {name}")
    assert template.render({"name": "first contact name"}) == "Hello first contact name"
    assert template.render({"name": "second contact name"}) == "Hello second contact name"


def test_text_without_placeholders_renders_as_is():
    template = compile_template("Plain text, 100% literal.")
    assert template.render({"name": "x"}) == "Plain text, 100% literal."
    assert template.variables == frozenset()
    assert template.reserved == frozenset()


def test_variables_lists_each_field_to_fetch_once():
    template = compile_template("{name} {surname|upper} {name|lower} {UNSUB_URL} {zip-code} {first.name}")
    assert template.variables == {"name", "surname", "zip-code", "first.name"}


def test_every_occurrence_is_substituted():
    assert render("{a}-{a}-{b}{a}", a="1", b="2") == "1-1-21"


def test_missing_variable_renders_as_empty_string():
    assert render("Hello {name} {surname}!", name="John") == "Hello John !"


def test_none_value_renders_as_empty_string():
    assert render("[{name|upper}]", name=None) == "[]"


def test_empty_value_renders_as_empty_string():
    assert render("[{name|capitalize}]", name="") == "[]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(12, "12"), (12.5, "12.5"), (Decimal("12.50"), "12.50"), (True, "true"), (False, "false")],
)
def test_non_string_values_render_as_written_in_json(value, expected):
    assert render("{v}", v=value) == expected


def test_variable_names_are_case_sensitive():
    assert render("{Name}/{name}", name="low") == "/low"


def test_any_mapping_works_so_the_engine_can_layer_sub_over_contact_fields():
    sub = {"name": "From sub"}
    custom_fields = {"name": "From custom field", "city": "Madrid"}
    contact = {"name": "From contact", "city": "Paris", "phone": "34666555444"}
    values = ChainMap(sub, custom_fields, contact)
    assert render("{name}, {city}, {phone}", **values) == "From sub, Madrid, 34666555444"
    assert compile_template("{name}, {city}, {phone}").render(values) == "From sub, Madrid, 34666555444"


def test_substituted_values_are_never_expanded_again():
    assert render("Hi {name}", name="{surname} {OTP_CODE}", surname="Smith") == "Hi {surname} {OTP_CODE}"


@pytest.mark.parametrize(
    "text",
    ["{}", "{ name }", "{two words}", '{"name": "x"}', "a { b", "a } b", "{name", "name}", "{|upper}", "{na me}"],
)
def test_braces_around_anything_but_a_variable_name_stay_literal(text):
    template = compile_template(text)
    assert template.render({"name": "X", "two words": "X", "na me": "X"}) == text
    assert template.variables == frozenset()


def test_double_braces_keep_the_outer_ones():
    assert render("{{name}}", name="John") == "{John}"


def test_variable_name_longer_than_a_custom_field_key_stays_literal():
    long_name = "a" * 65
    assert render("{" + long_name + "}", **{long_name: "x"}) == "{" + long_name + "}"


# --- reserved placeholders ---------------------------------------------------------------------


@pytest.mark.parametrize("placeholder", ["{UNSUB_URL}", "{OTP_CODE}", "{LAND_URL}", "{FORM_12}", "{FORM_abc-1}"])
def test_reserved_placeholder_without_value_is_left_untouched(placeholder):
    template = compile_template(f"Code {placeholder} {{name}}")
    assert template.render({"name": "John"}) == f"Code {placeholder} John"


def test_reserved_placeholders_are_listed_apart_from_the_fields_to_fetch():
    template = compile_template("{name} {UNSUB_URL} {OTP_CODE} {LAND_URL} {FORM_7} {FORM_7|shorten}")
    assert template.reserved == {"UNSUB_URL", "OTP_CODE", "LAND_URL", "FORM_7"}
    assert template.variables == {"name"}


def test_engine_substitutes_reserved_placeholders_through_the_values_mapping():
    template = compile_template("Hi {name}, code {OTP_CODE}. Form {FORM_3} Stop: {UNSUB_URL}")
    values = {"name": "Ann", "OTP_CODE": "4821", "FORM_3": "https://f.example/3", "UNSUB_URL": "https://u.example/x"}
    assert template.render(values) == "Hi Ann, code 4821. Form https://f.example/3 Stop: https://u.example/x"


def test_reserved_placeholder_with_filter_is_left_whole_when_missing_and_filtered_when_given():
    template = compile_template("{LAND_URL|upper}")
    assert template.render({}) == "{LAND_URL|upper}"
    assert template.render({"LAND_URL": "https://l.example"}) == "HTTPS://L.EXAMPLE"


@pytest.mark.parametrize(
    ("name", "reserved"),
    [
        ("UNSUB_URL", True),
        ("OTP_CODE", True),
        ("LAND_URL", True),
        ("FORM_1", True),
        ("FORM_", False),
        ("unsub_url", False),
        ("FORMS", False),
        ("name", False),
    ],
)
def test_which_names_are_reserved(name, reserved):
    assert is_reserved(name) is reserved


# --- filters: the spec's table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("placeholder", "value", "expected"),
    [
        ("{name|lower}", "My Name", "my name"),
        ("{name|upper}", "My Name", "MY NAME"),
        ("{name|capitalize}", "my name", "My name"),
        ("{name|capitalizeAll}", "my name", "My Name"),
        ("{number|formatDotComma}", "1234.56", "1.234,56"),
        ("{number|formatCommaDot}", "1234.56", "1,234.56"),
    ],
)
def test_spec_filter_examples(placeholder, value, expected):
    name = placeholder[1:].split("|")[0]
    assert render(placeholder, **{name: value}) == expected


def test_spec_filter_names_are_all_known():
    assert set(FILTERS) == {
        "lower",
        "upper",
        "capitalize",
        "capitalizeAll",
        "formatDotComma",
        "formatCommaDot",
        "shorten",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [("ÉLODIE ÇA", "élodie ça"), ("ÑANDÚ", "ñandú"), ("already lower", "already lower")],
)
def test_lower_handles_accented_letters(value, expected):
    assert render("{v|lower}", v=value) == expected


def test_upper_handles_accented_letters():
    assert render("{v|upper}", v="josé núñez") == "JOSÉ NÚÑEZ"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("my name", "My name"),
        ("mY nAME", "MY nAME"),  # only the first letter changes
        ("élodie dupont", "Élodie dupont"),
        ("  john smith", "  John smith"),
        ("¡hola amigo", "¡Hola amigo"),
        ("123 main street", "123 Main street"),
        ("", ""),
    ],
)
def test_capitalize_upper_cases_the_first_letter_of_the_first_word(value, expected):
    assert render("{v|capitalize}", v=value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("my name", "My Name"),
        ("mY nAME", "MY NAME"),
        ("ana\tmaría\nlópez  ruiz", "Ana\tMaría\nLópez  Ruiz"),
        ("jean-luc o'neil", "Jean-luc O'neil"),
        ("¡hola amigo!", "¡Hola Amigo!"),
        ("3rd street", "3rd Street"),
    ],
)
def test_capitalize_all_upper_cases_the_first_letter_of_each_word(value, expected):
    assert render("{v|capitalizeAll}", v=value) == expected


def test_filters_chain_left_to_right():
    assert render("{name|lower|capitalizeAll}", name="JOHN SMITH") == "John Smith"
    assert render("{name|capitalizeAll|lower}", name="JOHN SMITH") == "john smith"


def test_spaces_around_filter_names_are_ignored():
    assert render("{name| upper }", name="x") == "X"


# --- filters: numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "dot_comma", "comma_dot"),
    [
        ("1234.56", "1.234,56", "1,234.56"),
        ("1234.5", "1.234,5", "1,234.5"),  # decimals kept as given, never padded
        ("1234.560", "1.234,560", "1,234.560"),  # nor trimmed
        ("1234", "1.234", "1,234"),
        ("1234567.891", "1.234.567,891", "1,234,567.891"),
        ("-1234.56", "-1.234,56", "-1,234.56"),
        ("+1234", "+1.234", "+1,234"),
        ("999", "999", "999"),
        ("1000", "1.000", "1,000"),
        ("0.5", "0,5", "0.5"),
        ("0", "0", "0"),
        (" 1234 ", "1.234", "1,234"),
    ],
)
def test_number_formatting(value, dot_comma, comma_dot):
    assert render("{n|formatDotComma}", n=value) == dot_comma
    assert render("{n|formatCommaDot}", n=value) == comma_dot


@pytest.mark.parametrize(
    "value", ["abc", "1.234,56", "1,234.56", "12a", "1e3", ".5", "5.", "1 234", "", "--1", "NaN", "١٢٣٤"]
)
def test_number_formatting_leaves_non_numbers_unchanged(value):
    assert render("{n|formatDotComma}", n=value) == value
    assert render("{n|formatCommaDot}", n=value) == value


def test_number_formatting_of_numeric_sub_values():
    assert render("{n|formatDotComma}", n=1234.5) == "1.234,5"
    assert render("{n|formatCommaDot}", n=Decimal("1234567.00")) == "1,234,567.00"


# --- filters: shorten ---------------------------------------------------------------------------


def test_shorten_without_a_shortener_returns_the_url_unchanged():
    assert render("{url|shorten}", url="https://example.com/a/long/path?x=1") == "https://example.com/a/long/path?x=1"


def test_shorten_uses_the_registered_shortener():
    calls = []

    def shortener(url: str) -> str:
        calls.append(url)
        return "https://sms.tl/xxxxxx"

    set_url_shortener(shortener)
    assert render("Go {url|shorten}", url="https://example.com/offer") == "Go https://sms.tl/xxxxxx"
    assert calls == ["https://example.com/offer"]


def test_shortener_registered_after_compiling_applies():
    template = compile_template("{url|shorten}")
    assert template.render({"url": "https://example.com"}) == "https://example.com"
    set_url_shortener(lambda url: "https://sms.tl/abc")
    assert template.render({"url": "https://example.com"}) == "https://sms.tl/abc"


def test_set_url_shortener_returns_the_previous_one_and_none_unregisters():
    first = lambda url: "first"  # noqa: E731
    assert set_url_shortener(first) is None
    assert set_url_shortener(None) is first
    assert render("{u|shorten}", u="https://example.com") == "https://example.com"


@pytest.mark.parametrize(
    "value",
    ["not a url", "example.com", "ftp://example.com/f", "javascript:alert(1)", "https://", "https://a b.com", ""],
)
def test_shorten_leaves_values_that_are_not_http_urls_alone(value):
    set_url_shortener(lambda url: pytest.fail(f"shortener called with {url!r}"))
    assert render("{u|shorten}", u=value) == value


def test_shortener_failure_propagates_to_the_engine():
    def broken(url: str) -> str:
        raise ConnectionError("shortener down")

    set_url_shortener(broken)
    with pytest.raises(ConnectionError):
        render("{u|shorten}", u="https://example.com")


# --- unknown filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "filter_name"),
    [
        ("Hi {name|bogus}", "bogus"),
        ("{name|Lower}", "Lower"),  # filter names are case-sensitive
        ("{name|lower|title}", "title"),
        ("{name|}", ""),
        ("{OTP_CODE|encrypt}", "encrypt"),
        ("{a|upper} {b|nope} {c|alsono}", "nope"),
    ],
)
def test_unknown_filter_is_rejected_at_compile_time_naming_the_filter(text, filter_name):
    with pytest.raises(UnknownFilter) as caught:
        compile_template(text)
    assert caught.value.filter_name == filter_name
    assert f'"{filter_name}"' in str(caught.value)
    assert caught.value.placeholder in text


def test_unknown_filter_is_a_value_error():
    assert issubclass(UnknownFilter, ValueError)
