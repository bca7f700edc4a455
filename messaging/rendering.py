"""Message personalisation: the spec's substitution variables and custom fields filters.

A placeholder is `{name}` or `{name|filter}` (filters may be chained, `{name|lower|capitalizeAll}`,
applied left to right). `name` follows the custom field key rule (letters, digits, `_`, `.`, `-`, at
most 64 characters); braces around anything else (`{ }`, `{two words}`, JSON) stay literal text.
Parse once with `compile_template()`, then `CompiledTemplate.render(values)` per recipient.

Decisions where the spec is silent:
- A variable missing from `values` (or None) renders as an empty string: a recipient without a
  surname gets "Hello John ", never a raw "{surname}". Filters do not run on a missing value.
  Non-string values (numbers and booleans from the `sub` JSON) render as written there: 12.5, true.
- Unknown filters fail at compile time with `UnknownFilter`, so the API can reject the message before
  anything is sent.
- Reserved placeholders belong to other features: `{UNSUB_URL}`, `{OTP_CODE}`, `{LAND_URL}` and
  `{FORM_<id>}`. They are listed in `CompiledTemplate.reserved` (not in `.variables`, which lists only
  the contact / `sub` fields to fetch). The engine passes their per-recipient values in the same
  `values` mapping; one it does not pass is left untouched, filters included, for a later stage. Pass
  them in the same render call rather than in a second pass over the output: a contact value that
  happens to contain "{OTP_CODE}" must never be expanded.
- `capitalize` upper-cases the first letter of the first word and `capitalizeAll` the first letter of
  each whitespace-separated word; all other letters are kept as they are (the spec's descriptions
  mention only first letters; chain `lower` first to turn "JOHN" into "John"). Leading punctuation is
  skipped ("¡hola" -> "¡Hola"), and a word that starts with a digit ("3rd") is left alone.
- `formatDotComma` / `formatCommaDot` take a plain decimal number (`1234`, `-1234.5`, `1234.560`, the
  canonical form decimal custom fields are stored in) and keep the decimals exactly as given:
  1234.5 -> 1.234,5 and 1234.560 -> 1.234,560, so no value is rounded or padded behind the sender's
  back. Anything else (already formatted numbers, text, exponents) is returned unchanged.
- `shorten` calls the shortener registered with `set_url_shortener()`. Until one is registered (the URL
  shortener arrives later) it returns the URL unchanged, as it does for a value that is not an
  http(s) URL (the spec says "It must be a valid url."). A shortener's exception propagates.
"""

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from urllib.parse import urlsplit

UrlShortener = Callable[[str], str]
Filter = Callable[[str], str]

RESERVED_NAMES = frozenset({"UNSUB_URL", "OTP_CODE", "LAND_URL"})
RESERVED_PREFIX = "FORM_"

_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})((?:\|[^{}|]*)*)\}")
_PLAIN_NUMBER = re.compile(r"([-+]?)([0-9]+)(?:\.([0-9]+))?")
_WORD_START = re.compile(r"(?:^|(?<=\s))[^\s\w]*[^\W\d_]")

_url_shortener: UrlShortener | None = None


class UnknownFilter(ValueError):
    def __init__(self, filter_name: str, placeholder: str) -> None:
        self.filter_name = filter_name
        self.placeholder = placeholder
        super().__init__(f'Unknown filter "{filter_name}" in {placeholder}.')


def set_url_shortener(shortener: UrlShortener | None) -> UrlShortener | None:
    """Register the function `{url|shorten}` calls (None unregisters it); returns the previous one."""
    global _url_shortener
    previous, _url_shortener = _url_shortener, shortener
    return previous


def is_reserved(name: str) -> bool:
    return name in RESERVED_NAMES or (name.startswith(RESERVED_PREFIX) and len(name) > len(RESERVED_PREFIX))


def _upper_first_letter(match: re.Match[str]) -> str:
    return match.group().upper()


def _capitalize(value: str) -> str:
    return _WORD_START.sub(_upper_first_letter, value, count=1)


def _capitalize_all(value: str) -> str:
    return _WORD_START.sub(_upper_first_letter, value)


def _format_number(value: str, thousands: str, decimals: str) -> str:
    match = _PLAIN_NUMBER.fullmatch(value.strip())
    if match is None:
        return value
    sign, integer, fraction = match.groups()
    grouped = f"{int(integer):,}".replace(",", thousands)
    return f"{sign}{grouped}{decimals}{fraction}" if fraction else f"{sign}{grouped}"


def _format_dot_comma(value: str) -> str:
    return _format_number(value, ".", ",")


def _format_comma_dot(value: str) -> str:
    return _format_number(value, ",", ".")


def _is_url(value: str) -> bool:
    if not value or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _shorten(value: str) -> str:
    shortener = _url_shortener  # looked up per call: a shortener registered after compiling applies
    if shortener is None or not _is_url(value):
        return value
    return shortener(value)


FILTERS: dict[str, Filter] = {
    "lower": str.lower,
    "upper": str.upper,
    "capitalize": _capitalize,
    "capitalizeAll": _capitalize_all,
    "formatDotComma": _format_dot_comma,
    "formatCommaDot": _format_comma_dot,
    "shorten": _shorten,
}


class CompiledTemplate:
    """A message parsed once: literal pieces plus placeholder slots, rendered per recipient."""

    __slots__ = ("_pieces", "_slots", "reserved", "source", "variables")

    def __init__(self, source: str) -> None:
        self.source = source
        pieces: list[str] = []
        slots: list[tuple[int, str, tuple[Filter, ...]]] = []
        position = 0
        for match in _PLACEHOLDER.finditer(source):
            if match.start() > position:
                pieces.append(source[position : match.start()])
            name, filter_text = match.groups()
            filters = tuple(_resolve_filter(f.strip(), match.group()) for f in filter_text.split("|")[1:])
            # A reserved placeholder without a value stays as written for the stage that fills it.
            fallback = match.group() if is_reserved(name) else ""
            slots.append((len(pieces), name, filters))
            pieces.append(fallback)
            position = match.end()
        if position < len(source):
            pieces.append(source[position:])
        self._pieces = pieces
        self._slots = tuple(slots)
        names = {name for _, name, _ in slots}
        self.reserved = frozenset(n for n in names if is_reserved(n))
        self.variables = frozenset(names - self.reserved)

    def render(self, values: Mapping[str, object]) -> str:
        if not self._slots:
            return self.source
        pieces = self._pieces.copy()
        get = values.get
        for index, name, filters in self._slots:
            value = get(name)
            if value is None:
                continue  # pieces[index] already holds "" or the reserved placeholder as written
            if value.__class__ is not str:
                value = _as_text(value)
            for apply in filters:
                value = apply(value)
            pieces[index] = value
        return "".join(pieces)

    def __repr__(self) -> str:
        return f"CompiledTemplate({self.source!r})"


def _resolve_filter(filter_name: str, placeholder: str) -> Filter:
    try:
        return FILTERS[filter_name]
    except KeyError:
        raise UnknownFilter(filter_name, placeholder) from None


def _as_text(value: object) -> str:
    # `sub` values arrive from JSON: render them as they were written there (true, 12.5, 1000).
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def compile_template(text: str) -> CompiledTemplate:
    """Parse `text` once; raises UnknownFilter naming the first unknown filter."""
    return CompiledTemplate(text)
