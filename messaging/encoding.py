"""SMS character sets, length and segmentation, as the spec's annexes and Send SMS parameters define them.

Character sets (spec "Annexes": GSM basic / GSM extended, GSM-PT basic / GSM-PT extended) are typed in
below cell by cell, in the annex's layout, so they can be checked against it by eye. A basic character
costs 1 septet; an extended one costs 2 (escape + character). The annex cells that are not characters a
text can hold (ESC, which *is* the escape, and the controls SS2 and CR2) are left out; SP, LF, CR and FF
are the space, "\\n", "\\r" and "\\f". GSM-PT repeats some characters in both of its tables (e.g. "~",
"ç", "€"): a character present in the basic table always costs 1, as any encoder picks the cheaper cell.

Limits (Send SMS, `encoding` and `parts`): one GSM / GSM-PT message holds 160 septets, a concatenated
part 153; one UTF-16 message 70 code units, a concatenated part 67. UTF-16 counts code units, so a
character outside the Basic Multilingual Plane (most emoji) costs 2. The spec gives no separate numbers
for GSM-PT, so it uses the GSM ones. Parts are counted by filling them in order: the two septets of an
extended character and the two code units of a surrogate pair never straddle a part boundary, so a part
may hold 152 septets (or 66 units) when the next character would not fit whole.

Characters outside the chosen 7-bit set. The spec (Send SMS, `encoding`) only lists the three values
and the default, and says of `trans` that with 0 "the server does not change any character"; it never
says the server switches to UTF-16 by itself. So nothing here switches silently: `measure()` keeps the
requested encoding and flags the offending characters in `SmsMeasure.unsupported` (the same list as
`non_gsm_characters()`); the caller decides (reject, suggest `utf-16` or `trans=1`, or send anyway).
For counting, each unsupported character is charged 1 septet, which is what a gateway that replaces it
(usually with "?") transmits.

`split()` cuts the text into exactly the parts `measure()` counts (153 / 67 per part once the message
needs more than one), so with `splitParts` the number of SMS sent and charged is the same as without it.
"""

import re
from typing import NamedTuple

GSM = "gsm"
GSM_PT = "gsm-pt"
UTF_16 = "utf-16"
ENCODINGS = (GSM, GSM_PT, UTF_16)
DEFAULT_ENCODING = GSM

MAX_PARTS = 15

SINGLE_LIMIT = {GSM: 160, GSM_PT: 160, UTF_16: 70}
PART_LIMIT = {GSM: 153, GSM_PT: 153, UTF_16: 67}

# Annex cells that hold no character a message can contain.
_ESC = ""
_SS2 = ""
_CR2 = ""

# fmt: off
# Rows 0x00..0x0F, columns 0x00 0x10 0x20 0x30 0x40 0x50 0x60 0x70, as in the annex.
_GSM_BASIC_ROWS = (
    ("@",  "Δ",  " ",  "0", "¡", "P", "¿", "p"),  # 0x00
    ("£",  "_",  "!",  "1", "A", "Q", "a", "q"),  # 0x01
    ("$",  "Φ",  '"',  "2", "B", "R", "b", "r"),  # 0x02
    ("¥",  "Γ",  "#",  "3", "C", "S", "c", "s"),  # 0x03
    ("è",  "Λ",  "¤",  "4", "D", "T", "d", "t"),  # 0x04
    ("é",  "Ω",  "%",  "5", "E", "U", "e", "u"),  # 0x05
    ("ù",  "Π",  "&",  "6", "F", "V", "f", "v"),  # 0x06
    ("ì",  "Ψ",  "'",  "7", "G", "W", "g", "w"),  # 0x07
    ("ò",  "Σ",  "(",  "8", "H", "X", "h", "x"),  # 0x08
    ("Ç",  "Θ",  ")",  "9", "I", "Y", "i", "y"),  # 0x09
    ("\n", "Ξ",  "*",  ":", "J", "Z", "j", "z"),  # 0x0A
    ("Ø",  _ESC, "+",  ";", "K", "Ä", "k", "ä"),  # 0x0B
    ("ø",  "Æ",  ",",  "<", "L", "Ö", "l", "ö"),  # 0x0C
    ("\r", "æ",  "-",  "=", "M", "Ñ", "m", "ñ"),  # 0x0D
    ("Å",  "ß",  ".",  ">", "N", "Ü", "n", "ü"),  # 0x0E
    ("å",  "É",  "/",  "?", "O", "§", "o", "à"),  # 0x0F
)

# The extended annexes list each row's filled cells only (their columns are not recoverable from
# the flattened annex, and only membership matters here).
_GSM_EXTENDED_ROWS = (
    ("|",),            # 0x00
    (),                # 0x01
    (),                # 0x02
    (),                # 0x03
    ("^",),            # 0x04
    ("€",),            # 0x05
    (),                # 0x06
    (),                # 0x07
    ("{",),            # 0x08
    ("}",),            # 0x09
    ("\f",),           # 0x0A  FF
    (_SS2,),           # 0x0B
    ("[",),            # 0x0C
    (_CR2, "~"),       # 0x0D
    ("]",),            # 0x0E
    ("\\",),           # 0x0F
)

_GSM_PT_BASIC_ROWS = (
    ("@",  "Δ",  " ",  "0", "Í", "P", "~", "p"),  # 0x00
    ("£",  "_",  "!",  "1", "A", "Q", "a", "q"),  # 0x01
    ("$",  "ª",  '"',  "2", "B", "R", "b", "r"),  # 0x02
    ("¥",  "Ç",  "#",  "3", "C", "S", "c", "s"),  # 0x03
    ("ê",  "À",  "º",  "4", "D", "T", "d", "t"),  # 0x04
    ("é",  "∞",  "%",  "5", "E", "U", "e", "u"),  # 0x05
    ("ú",  "^",  "&",  "6", "F", "V", "f", "v"),  # 0x06
    ("í",  "\\", "'",  "7", "G", "W", "g", "w"),  # 0x07
    ("ó",  "€",  "(",  "8", "H", "X", "h", "x"),  # 0x08
    ("ç",  "Ó",  ")",  "9", "I", "Y", "i", "y"),  # 0x09
    ("\n", "|",  "*",  ":", "J", "Z", "j", "z"),  # 0x0A
    ("Ô",  _ESC, "+",  ";", "K", "Ã", "k", "ã"),  # 0x0B
    ("ô",  "Â",  ",",  "<", "L", "Õ", "l", "õ"),  # 0x0C
    ("\r", "â",  "-",  "=", "M", "Ú", "m", "`"),  # 0x0D
    ("Á",  "Ê",  ".",  ">", "N", "Ü", "n", "ü"),  # 0x0E
    ("á",  "É",  "/",  "?", "O", "§", "o", "à"),  # 0x0F
)

_GSM_PT_EXTENDED_ROWS = (
    ("|",),                               # 0x00
    ("À", "Â"),                           # 0x01
    ("Φ",),                               # 0x02
    ("Γ",),                               # 0x03
    ("^",),                               # 0x04
    ("ê", "Ω", "Ú", "€", "ú"),            # 0x05
    ("Π",),                               # 0x06
    ("Ψ",),                               # 0x07
    ("Σ", "{"),                           # 0x08
    ("ç", "Θ", "}", "Í", "í"),            # 0x09
    ("\f",),                              # 0x0A  FF
    ("Ô", _SS2, "Ã", "ã"),                # 0x0B
    ("ô", "[", "Õ", "õ"),                 # 0x0C
    (_CR2, "~"),                          # 0x0D
    ("Á", "]"),                           # 0x0E
    ("á", "Ê", "\\", "Ó", "ó", "â"),      # 0x0F
)

# Send SMS, `trans`: "'á' => 'a', 'í'=>'i', ..." in the spec's order.
TRANSLATION = {
    "á": "a", "í": "i", "ó": "o", "ú": "u", "ç": "Ç",
    "Á": "A", "Í": "I", "Ó": "O", "Ú": "U",
    "À": "A", "È": "E", "Ì": "I", "Ò": "O", "Ù": "U",
    "º": "", "ª": "",
    "Õ": "O", "õ": "o",
    "â": "a", "ê": "e", "î": "i", "ô": "o", "û": "u",
    "Â": "A", "Ê": "E", "Î": "I", "Ô": "O", "Û": "U",
    "ã": "a", "Ã": "A",
}
# fmt: on


def _cells(rows: tuple[tuple[str, ...], ...]) -> frozenset[str]:
    return frozenset(cell for row in rows for cell in row if cell)


GSM_BASIC = _cells(_GSM_BASIC_ROWS)
GSM_EXTENDED = _cells(_GSM_EXTENDED_ROWS)
GSM_PT_BASIC = _cells(_GSM_PT_BASIC_ROWS)
GSM_PT_EXTENDED = _cells(_GSM_PT_EXTENDED_ROWS)

_TRANSLATE_TABLE = str.maketrans(TRANSLATION)


class InvalidEncoding(ValueError):
    """The encoding is none of 'gsm', 'gsm-pt', 'utf-16' (the API answers error 113)."""


class SmsMeasure(NamedTuple):
    encoding: str  # the encoding the message goes out in (always the requested one, see module doc)
    units: int  # septets (gsm, gsm-pt) or UTF-16 code units (utf-16)
    parts: int  # SMS needed; 0 for an empty text
    per_part_limit: int  # 160 / 70 for a single message, 153 / 67 once concatenated
    chars_left_in_part: int  # units still free in the last part
    unsupported: tuple[str, ...] = ()  # distinct characters outside the 7-bit set, in order

    @property
    def fits_encoding(self) -> bool:
        return not self.unsupported


class _SevenBitSet:
    """One 7-bit character set, precomputed for the fast paths of measure() and split()."""

    def __init__(self, basic: frozenset[str], extended: frozenset[str]) -> None:
        self.extended_only = extended - basic
        self.representable = basic | extended
        # ASCII text (the common case) is checked with C-speed bytes.translate calls.
        self.ascii_basic = bytes(sorted(ord(c) for c in basic if c.isascii()))
        self.ascii_extended = bytes(sorted(ord(c) for c in self.extended_only if c.isascii()))
        self.not_basic = _char_class(basic, negate=True)
        self.double = _char_class(self.extended_only)


def _char_class(chars: frozenset[str], negate: bool = False) -> re.Pattern[str]:
    return re.compile("[" + ("^" if negate else "") + "".join(re.escape(c) for c in sorted(chars)) + "]")


_SEVEN_BIT = {
    GSM: _SevenBitSet(GSM_BASIC, GSM_EXTENDED),
    GSM_PT: _SevenBitSet(GSM_PT_BASIC, GSM_PT_EXTENDED),
}
_UTF16_DOUBLE = re.compile("[\U00010000-\U0010ffff]")  # a surrogate pair in UTF-16

# NamedTuple's generated __new__ costs as much as the whole fast path; build the tuple directly.
_new_measure = tuple.__new__


def translate(text: str) -> str:
    """The text after the spec's `trans=1` translation table (applied before encoding)."""
    return text.translate(_TRANSLATE_TABLE)


def non_gsm_characters(text: str, encoding: str = DEFAULT_ENCODING) -> list[str]:
    """Distinct characters of `text` the chosen 7-bit set cannot hold, in order of first appearance.

    Always empty for utf-16, which holds every character.
    """
    charset = _SEVEN_BIT.get(encoding)
    if charset is None:
        _check_encoding(encoding)
        return []
    representable = charset.representable
    return [c for c in dict.fromkeys(charset.not_basic.findall(text)) if c not in representable]


def _check_encoding(encoding: str) -> None:
    if encoding not in SINGLE_LIMIT:
        raise InvalidEncoding(f"Unknown encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}.")


def _units(text: str, encoding: str) -> tuple[int, tuple[str, ...]]:
    """(septets or UTF-16 code units, unsupported characters) of `text`; unsupported ones cost 1."""
    charset = _SEVEN_BIT.get(encoding)
    if charset is None:
        _check_encoding(encoding)
        if text.isascii():
            return len(text), ()
        # surrogatepass: a lone surrogate (JSON "\ud83d" decodes to one) is one code unit, not a crash.
        return len(text.encode("utf-16-le", "surrogatepass")) // 2, ()
    if text.isascii():
        rest = text.encode().translate(None, charset.ascii_basic)
        if not rest:
            return len(text), ()
        if not rest.translate(None, charset.ascii_extended):
            return len(text) + len(rest), ()
        outside = [chr(b) for b in rest]
    else:
        outside = charset.not_basic.findall(text)
        if not outside:
            return len(text), ()
    extended_only = charset.extended_only
    if extended_only.issuperset(outside):
        return len(text) + len(outside), ()
    doubles = sum(map(extended_only.__contains__, outside))
    representable = charset.representable
    return len(text) + doubles, tuple([c for c in dict.fromkeys(outside) if c not in representable])


def _part_starts(text: str, encoding: str) -> tuple[list[int], int]:
    """(start index of each concatenated part, units left in the last one).

    Walks the 2-unit characters only (few, even in long texts): the single-unit runs between them
    fill parts arithmetically, and a 2-unit character that does not fit whole opens the next part.
    """
    charset = _SEVEN_BIT.get(encoding)
    double = charset.double if charset is not None else _UTF16_DOUBLE
    limit = PART_LIMIT[encoding]
    starts = [0]
    position, budget = 0, limit
    for match in double.finditer(text):
        index = match.start()
        while index - position >= budget:
            position += budget
            starts.append(position)
            budget = limit
        budget -= index - position
        if budget < 2:
            starts.append(index)
            budget = limit
        budget -= 2
        position = index + 1
    while len(text) - position > budget:
        position += budget
        starts.append(position)
        budget = limit
    return starts, budget - (len(text) - position)


def measure(text: str, encoding: str = DEFAULT_ENCODING) -> SmsMeasure:
    """Units, parts and room left for `text` sent in `encoding` (see the module doc for the rules)."""
    units, unsupported = _units(text, encoding)
    single = SINGLE_LIMIT[encoding]
    if units <= single:
        return _new_measure(SmsMeasure, (encoding, units, 1 if units else 0, single, single - units, unsupported))
    per_part = PART_LIMIT[encoding]
    if units == len(text):  # every character costs 1 unit: plain division
        parts = -(-units // per_part)
        return _new_measure(SmsMeasure, (encoding, units, parts, per_part, parts * per_part - units, unsupported))
    starts, left = _part_starts(text, encoding)
    return _new_measure(SmsMeasure, (encoding, units, len(starts), per_part, left, unsupported))


def split(text: str, encoding: str = DEFAULT_ENCODING) -> list[str]:
    """The text of each part `measure()` counts, for `splitParts` (each part sent as its own SMS)."""
    units, _unsupported = _units(text, encoding)
    if not text:
        return []
    if units <= SINGLE_LIMIT[encoding]:
        return [text]
    if units == len(text):
        per_part = PART_LIMIT[encoding]
        return [text[i : i + per_part] for i in range(0, len(text), per_part)]
    starts, _left = _part_starts(text, encoding)
    ends = [*starts[1:], len(text)]
    return [text[start:end] for start, end in zip(starts, ends, strict=True)]


def check_parts(sms: SmsMeasure, max_parts: int) -> int | None:
    """The spec's error code for a message that cannot go out with `parts=max_parts`, else None.

    104 empty text; 110 `parts` outside 1..15; 105 the text needs more parts than `parts` allows.
    """
    if sms.units == 0:
        return 104
    if not 1 <= max_parts <= MAX_PARTS:
        return 110
    if sms.parts > max_parts:
        return 105
    return None
