"""SMS character sets and segmentation, proven against the spec's annexes and Send SMS parameters.

The expected tables below are the annex cells copied in the annex's own order (row 0x00 to 0x0F, each
row's cells left to right) and written in the annex's notation (SP, LF, CR, ESC, FF, SS2, CR2). They
are independent of messaging/encoding.py; when the spec file is present, a test also re-reads the
annexes from it and checks these copies cell by cell.
"""

import random
import re
from pathlib import Path

import pytest

from messaging.encoding import (
    GSM_BASIC,
    GSM_EXTENDED,
    GSM_PT_BASIC,
    GSM_PT_EXTENDED,
    InvalidEncoding,
    SmsMeasure,
    check_parts,
    measure,
    non_gsm_characters,
    split,
    translate,
)

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "rest-api-reference.txt"

# Annex notation -> the character a text holds; None for cells that are no character (the escape
# itself and the two reserved controls).
NOTATION = {"SP": " ", "LF": "\n", "CR": "\r", "FF": "\f", "ESC": None, "SS2": None, "CR2": None}

GSM_BASIC_ANNEX = """
@ Δ SP 0 ¡ P ¿ p
£ _ ! 1 A Q a q
$ Φ " 2 B R b r
¥ Γ # 3 C S c s
è Λ ¤ 4 D T d t
é Ω % 5 E U e u
ù Π & 6 F V f v
ì Ψ ' 7 G W g w
ò Σ ( 8 H X h x
Ç Θ ) 9 I Y i y
LF Ξ * : J Z j z
Ø ESC + ; K Ä k ä
ø Æ , < L Ö l ö
CR æ - = M Ñ m ñ
Å ß . > N Ü n ü
å É / ? O § o à
"""

GSM_EXTENDED_ANNEX = r"""
|
^
€
{
}
FF
SS2
[
CR2 ~
]
\
"""

GSM_PT_BASIC_ANNEX = r"""
@ Δ SP 0 Í P ~ p
£ _ ! 1 A Q a q
$ ª " 2 B R b r
¥ Ç # 3 C S c s
ê À º 4 D T d t
é ∞ % 5 E U e u
ú ^ & 6 F V f v
í \ ' 7 G W g w
ó € ( 8 H X h x
ç Ó ) 9 I Y i y
LF | * : J Z j z
Ô ESC + ; K Ã k ã
ô Â , < L Õ l õ
CR â - = M Ú m `
Á Ê . > N Ü n ü
á É / ? O § o à
"""

GSM_PT_EXTENDED_ANNEX = r"""
|
À Â
Φ
Γ
^
ê Ω Ú € ú
Π
Ψ
Σ {
ç Θ } Í í
FF
Ô SS2 Ã ã
ô [ Õ õ
CR2 ~
Á ]
á Ê \ Ó ó â
"""

# Send SMS, `trans`, copied from the spec.
TRANS_SENTENCE = (
    "'á' => 'a', 'í'=>'i', 'ó'=>'o', 'ú'=>'u', 'ç'=>'Ç', 'Á'=>'A', 'Í'=>'I', 'Ó'=>'O', 'Ú'=>'U', "
    "'À'=>'A', 'È'=>'E', 'Ì'=>'I', 'Ò'=>'O', 'Ù'=>'U', 'º' => '', 'ª' => '', 'Õ' => 'O', 'õ' => 'o', "
    "'â' => 'a', 'ê' => 'e', 'î'=>'i', 'ô'=>'o', 'û'=>'u', 'Â'=>'A', 'Ê'=>'E', 'Î'=>'I', 'Ô'=>'O', "
    "'Û'=>'U', 'ã' => 'a', 'Ã' => 'A'."
)
TRANS_TABLE = re.findall(r"'(.)'\s*=>\s*'(.?)'", TRANS_SENTENCE)


def cells(annex: str) -> list[str]:
    return annex.split()


def characters(annex: str) -> list[str]:
    return [c for c in (NOTATION.get(cell, cell) for cell in cells(annex)) if c is not None]


EXPECTED_GSM_BASIC = set(characters(GSM_BASIC_ANNEX))
EXPECTED_GSM_EXTENDED = set(characters(GSM_EXTENDED_ANNEX))
EXPECTED_GSM_PT_BASIC = set(characters(GSM_PT_BASIC_ANNEX))
EXPECTED_GSM_PT_EXTENDED = set(characters(GSM_PT_EXTENDED_ANNEX))

# Characters of every kind, for the random segmentation checks.
SAMPLE_POOL = (
    list(EXPECTED_GSM_BASIC | EXPECTED_GSM_PT_BASIC)
    + list(EXPECTED_GSM_EXTENDED | EXPECTED_GSM_PT_EXTENDED) * 3
    + ["😀", "👍🏽", "𝄞", "中", "Ж", "\t", "ő"] * 3
)


def spec_annex_cells(heading: str) -> list[str]:
    """The cells of one annex table read from the spec text, in order."""
    lines = SPEC.read_text(encoding="utf-8").splitlines()
    start = lines.index(heading) + 1
    found = []
    for line in lines[start:]:
        if line.startswith("* "):  # the "* Special characters" footnote ends a table (a "*" cell does not)
            break
        if line in ("character set", "These characters occupy two positions"):
            continue
        if re.fullmatch(r"0x[0-9A-F]{2}", line):
            continue
        found.append(line)
    return found


def reference_layout(text: str, encoding: str) -> tuple[int, list[str]]:
    """Units and parts of `text`, by the obvious character-by-character fill (the oracle)."""
    if encoding == "utf-16":
        costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
    else:
        basic, extended = (
            (EXPECTED_GSM_BASIC, EXPECTED_GSM_EXTENDED)
            if encoding == "gsm"
            else (EXPECTED_GSM_PT_BASIC, EXPECTED_GSM_PT_EXTENDED)
        )
        costs = [2 if c not in basic and c in extended else 1 for c in text]
    units = sum(costs)
    if not text:
        return 0, []
    single, per_part = (70, 67) if encoding == "utf-16" else (160, 153)
    if units <= single:
        return units, [text]
    parts, current, used = [], "", 0
    for char, cost in zip(text, costs, strict=True):
        if used + cost > per_part:
            parts.append(current)
            current, used = "", 0
        current += char
        used += cost
    parts.append(current)
    return units, parts


# --- the tables, against the spec ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "annex", "expected_count"),
    [
        ("Annexes GSM character set GSM basic", GSM_BASIC_ANNEX, 128),
        ("GSM extended", GSM_EXTENDED_ANNEX, 12),
        ("GSM-PT character set GSM-PT basic", GSM_PT_BASIC_ANNEX, 128),
        ("GSM-PT extended", GSM_PT_EXTENDED_ANNEX, 39),
    ],
)
def test_annex_copies_in_these_tests_match_the_spec_cell_by_cell(heading, annex, expected_count):
    if not SPEC.exists():
        pytest.skip("shared/spec is not beside the repository")
    assert spec_annex_cells(heading) == cells(annex)
    assert len(cells(annex)) == expected_count


def test_trans_sentence_in_these_tests_is_the_spec_one():
    if not SPEC.exists():
        pytest.skip("shared/spec is not beside the repository")
    assert TRANS_SENTENCE in SPEC.read_text(encoding="utf-8")
    assert len(TRANS_TABLE) == 30


def test_module_tables_are_exactly_the_annex_tables():
    assert GSM_BASIC == EXPECTED_GSM_BASIC
    assert GSM_EXTENDED == EXPECTED_GSM_EXTENDED
    assert GSM_PT_BASIC == EXPECTED_GSM_PT_BASIC
    assert GSM_PT_EXTENDED == EXPECTED_GSM_PT_EXTENDED


@pytest.mark.parametrize("char", characters(GSM_BASIC_ANNEX))
def test_gsm_basic_character_costs_one_septet(char):
    assert measure(char, "gsm") == SmsMeasure("gsm", 1, 1, 160, 159, ())
    assert non_gsm_characters(char, "gsm") == []


@pytest.mark.parametrize("char", characters(GSM_EXTENDED_ANNEX))
def test_gsm_extended_character_costs_two_septets(char):
    assert measure(char, "gsm") == SmsMeasure("gsm", 2, 1, 160, 158, ())
    assert non_gsm_characters(char, "gsm") == []


@pytest.mark.parametrize("char", characters(GSM_PT_BASIC_ANNEX))
def test_gsm_pt_basic_character_costs_one_septet(char):
    assert measure(char, "gsm-pt") == SmsMeasure("gsm-pt", 1, 1, 160, 159, ())
    assert non_gsm_characters(char, "gsm-pt") == []


@pytest.mark.parametrize("char", characters(GSM_PT_EXTENDED_ANNEX))
def test_gsm_pt_extended_character_costs_two_septets_unless_also_basic(char):
    septets = 1 if char in EXPECTED_GSM_PT_BASIC else 2
    assert measure(char, "gsm-pt").units == septets
    assert non_gsm_characters(char, "gsm-pt") == []


@pytest.mark.parametrize(
    ("encoding", "basic", "extended"),
    [
        ("gsm", EXPECTED_GSM_BASIC, EXPECTED_GSM_EXTENDED),
        ("gsm-pt", EXPECTED_GSM_PT_BASIC, EXPECTED_GSM_PT_EXTENDED),
    ],
)
def test_no_character_outside_the_annex_is_accepted(encoding, basic, extended):
    code_points = [*range(0x3000), 0xFFFD, 0x1F600, 0x1D11E]
    for code_point in code_points:
        char = chr(code_point)
        if char in basic:
            expected = (1, ())
        elif char in extended:
            expected = (2, ())
        else:
            expected = (1, (char,))
        got = measure(char, encoding)
        assert (got.units, got.unsupported) == expected, f"U+{code_point:04X}"


@pytest.mark.parametrize(
    ("char", "gsm_septets", "gsm_pt_septets"),
    [
        ("~", 2, 1),  # extended in GSM, basic in GSM-PT
        ("^", 2, 1),
        ("\\", 2, 1),
        ("|", 2, 1),
        ("€", 2, 1),
        ("{", 2, 2),
        ("[", 2, 2),
        ("Φ", 1, 2),  # basic in GSM, extended in GSM-PT
        ("Γ", 1, 2),
        ("Ω", 1, 2),
        ("Π", 1, 2),
        ("Ψ", 1, 2),
        ("Σ", 1, 2),
        ("Θ", 1, 2),
        ("\f", 2, 2),
    ],
)
def test_septet_cost_differs_between_gsm_and_gsm_pt_as_the_annexes_say(char, gsm_septets, gsm_pt_septets):
    assert measure(char, "gsm").units == gsm_septets
    assert measure(char, "gsm-pt").units == gsm_pt_septets


@pytest.mark.parametrize("char", ["á", "í", "ó", "ú", "ç", "ê", "Õ", "ã", "ª", "º", "∞", "`", "Ô", "À"])
def test_portuguese_characters_are_gsm_pt_only(char):
    assert measure(char, "gsm-pt").unsupported == ()
    assert non_gsm_characters(char, "gsm") == [char]


@pytest.mark.parametrize(
    "char", ["¡", "¿", "è", "ù", "ì", "ò", "Ø", "ø", "Å", "å", "Æ", "æ", "ß", "Ä", "ä", "Ö", "ö", "Ñ", "ñ", "¤"]
)
def test_gsm_characters_replaced_in_gsm_pt_are_not_gsm_pt(char):
    assert measure(char, "gsm").unsupported == ()
    assert non_gsm_characters(char, "gsm-pt") == [char]


@pytest.mark.parametrize("char", ["Λ", "Ξ"])
def test_greek_letters_missing_from_both_gsm_pt_tables_are_not_gsm_pt(char):
    assert non_gsm_characters(char, "gsm-pt") == [char]


@pytest.mark.parametrize("encoding", ["gsm", "gsm-pt"])
@pytest.mark.parametrize("control", ["\x1b", "\t", "\x00", "\x0b"])
def test_escape_and_other_controls_are_not_characters_of_the_7_bit_sets(encoding, control):
    assert non_gsm_characters(f"a{control}b", encoding) == [control]


# --- characters outside the chosen set -------------------------------------------------------


def test_text_with_non_gsm_characters_keeps_gsm_and_flags_them_in_order():
    got = measure("Hola Ángel, ¿qué tal? 😀 Ángel", "gsm")
    assert got.encoding == "gsm"
    assert got.unsupported == ("Á", "😀")
    assert not got.fits_encoding
    # each unsupported character is charged one septet
    assert got.units == len("Hola Ángel, ¿qué tal? 😀 Ángel")


def test_non_gsm_characters_lists_distinct_characters_in_order_of_appearance():
    assert non_gsm_characters("óbaáóx😀á", "gsm") == ["ó", "á", "😀"]


def test_non_gsm_characters_is_empty_for_utf16_and_for_pure_gsm_text():
    assert non_gsm_characters("Привет 😀", "utf-16") == []
    assert non_gsm_characters("Hello {world} 10€", "gsm") == []


def test_ascii_text_with_unsupported_controls_is_flagged_on_the_fast_path_too():
    got = measure("tab\there [x]", "gsm")
    assert got.unsupported == ("\t",)
    assert got.units == 12 + 2  # [ and ] cost two septets each


@pytest.mark.parametrize("call", [measure, split, non_gsm_characters])
@pytest.mark.parametrize("encoding", ["utf8", "GSM", "ucs2", ""])
def test_unknown_encoding_is_rejected(call, encoding):
    with pytest.raises(InvalidEncoding):
        call("hello", encoding)


def test_default_encoding_is_gsm():
    assert measure("hello").encoding == "gsm"
    assert non_gsm_characters("ó") == ["ó"]
    assert split("a" * 161) == ["a" * 153, "a" * 8]


# --- translation table --------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), TRANS_TABLE)
def test_trans_table_entry(source, target):
    assert translate(source) == target
    assert translate(f"x{source}y") == f"x{target}y"


def test_trans_makes_every_table_entry_gsm():
    text = "".join(source for source, _ in TRANS_TABLE)
    assert non_gsm_characters(text, "gsm") != []
    assert non_gsm_characters(translate(text), "gsm") == []


@pytest.mark.parametrize("char", ["é", "è", "ñ", "ü", "É", "Ç", "€", "ő", "😀", "a"])
def test_trans_leaves_characters_outside_the_table_alone(char):
    assert translate(char) == char


def test_trans_on_a_sentence():
    assert translate("Ação: 1ª visita às 10h, código nº 5") == "AÇao: 1 visita às 10h, codigo n 5"


# --- lengths and parts: GSM / GSM-PT ---------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gsm", "gsm-pt"])
@pytest.mark.parametrize(
    ("length", "parts", "per_part_limit", "left"),
    [
        (1, 1, 160, 159),
        (159, 1, 160, 1),
        (160, 1, 160, 0),
        (161, 2, 153, 145),
        (305, 2, 153, 1),
        (306, 2, 153, 0),
        (307, 3, 153, 152),
        (459, 3, 153, 0),
        (2295, 15, 153, 0),
        (2296, 16, 153, 152),
    ],
)
def test_seven_bit_boundaries(encoding, length, parts, per_part_limit, left):
    assert measure("a" * length, encoding) == SmsMeasure(encoding, length, parts, per_part_limit, left, ())
    assert len(split("a" * length, encoding)) == parts


def test_empty_text_needs_no_sms():
    assert measure("", "gsm") == SmsMeasure("gsm", 0, 0, 160, 160, ())
    assert measure("", "utf-16") == SmsMeasure("utf-16", 0, 0, 70, 70, ())
    assert split("", "gsm") == []


def test_extended_characters_fill_a_single_message_up_to_160_septets():
    assert measure("€" * 80, "gsm") == SmsMeasure("gsm", 160, 1, 160, 0, ())
    assert measure("a" * 158 + "€", "gsm").parts == 1
    assert measure("a" * 159 + "€", "gsm") == SmsMeasure("gsm", 161, 2, 153, 153 - 8, ())


def test_extended_character_at_a_part_boundary_moves_whole_to_the_next_part():
    text = "a" * 152 + "€" + "b" * 8
    got = measure(text, "gsm")
    assert got == SmsMeasure("gsm", 162, 2, 153, 153 - 10, ())
    assert split(text, "gsm") == ["a" * 152, "€" + "b" * 8]


def test_extended_character_ending_exactly_on_the_boundary_stays_in_the_part():
    text = "a" * 151 + "€" + "b" * 20
    assert split(text, "gsm") == ["a" * 151 + "€", "b" * 20]
    assert measure(text, "gsm").chars_left_in_part == 133


def test_text_that_needs_a_new_part_only_because_of_a_split_escape():
    # 306 septets would fit two parts exactly, but the escape pair at 153/154 pushes one septet on.
    text = "a" * 152 + "€" + "a" * 152
    got = measure(text, "gsm")
    assert got.units == 306
    assert got.parts == 3
    assert [len(p) for p in split(text, "gsm")] == [152, 152, 1]


def test_all_extended_text_fills_parts_with_76_characters():
    text = "{" * 100
    assert split(text, "gsm") == ["{" * 76, "{" * 24]
    assert measure(text, "gsm").chars_left_in_part == 153 - 48


def test_gsm_pt_boundary_with_its_own_extended_characters():
    text = "a" * 152 + "Σ" + "b" * 10  # Σ is extended in GSM-PT, basic in GSM
    assert split(text, "gsm-pt") == ["a" * 152, "Σ" + "b" * 10]
    assert split(text, "gsm") == [text[:153], "b" * 10]


def test_gsm_pt_portuguese_text_uses_one_septet_per_character():
    text = "Olá João, a sua encomenda já foi enviada às 10h. Obrigado!"
    assert measure(text, "gsm-pt") == SmsMeasure("gsm-pt", len(text), 1, 160, 160 - len(text), ())


# --- lengths and parts: UTF-16 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "parts", "per_part_limit", "left"),
    [
        (69, 1, 70, 1),
        (70, 1, 70, 0),
        (71, 2, 67, 63),
        (134, 2, 67, 0),
        (135, 3, 67, 66),
        (1005, 15, 67, 0),
        (1006, 16, 67, 66),
    ],
)
def test_utf16_boundaries(length, parts, per_part_limit, left):
    text = "Ж" * length
    assert measure(text, "utf-16") == SmsMeasure("utf-16", length, parts, per_part_limit, left, ())
    assert len(split(text, "utf-16")) == parts


def test_emoji_outside_the_bmp_counts_two_code_units():
    assert measure("😀", "utf-16").units == 2
    assert measure("😀" * 35, "utf-16") == SmsMeasure("utf-16", 70, 1, 70, 0, ())
    assert measure("😀" * 35 + "a", "utf-16").parts == 2


def test_emoji_at_a_part_boundary_is_not_split():
    text = "a" * 66 + "😀" + "b" * 10
    assert measure(text, "utf-16") == SmsMeasure("utf-16", 78, 2, 67, 67 - 12, ())
    parts = split(text, "utf-16")
    assert parts == ["a" * 66, "😀" + "b" * 10]
    for part in parts:
        part.encode("utf-16-le")  # strict: would raise on a lone surrogate


def test_emoji_ending_exactly_on_the_boundary_stays_in_the_part():
    text = "a" * 65 + "😀" + "b" * 10
    assert split(text, "utf-16") == ["a" * 65 + "😀", "b" * 10]


def test_lone_surrogate_counts_one_code_unit_instead_of_crashing():
    assert measure("a\ud83d", "utf-16").units == 2


# --- segmentation against a character-by-character oracle -------------------------------------


@pytest.mark.parametrize("encoding", ["gsm", "gsm-pt", "utf-16"])
def test_measure_and_split_agree_with_a_character_by_character_fill(encoding):
    rng = random.Random(f"sms-{encoding}")
    for _ in range(400):
        length = rng.choice([rng.randint(0, 200), rng.randint(140, 700)])
        text = "".join(rng.choice(SAMPLE_POOL) for _ in range(length))
        units, parts = reference_layout(text, encoding)
        got = measure(text, encoding)
        assert got.units == units
        assert got.parts == len(parts)
        assert split(text, encoding) == parts
        if parts:
            last = reference_layout(parts[-1], encoding)[0]
            assert got.chars_left_in_part == got.per_part_limit - last


# --- check_parts -----------------------------------------------------------------------------


def test_check_parts_empty_text_is_104():
    assert check_parts(measure("", "gsm"), 1) == 104
    assert check_parts(measure("", "gsm"), 99) == 104


@pytest.mark.parametrize("max_parts", [0, -1, 16, 100])
def test_check_parts_outside_1_to_15_is_110(max_parts):
    assert check_parts(measure("hello", "gsm"), max_parts) == 110


def test_check_parts_text_needing_more_parts_than_allowed_is_105():
    assert check_parts(measure("a" * 161, "gsm"), 1) == 105
    assert check_parts(measure("a" * 2296, "gsm"), 15) == 105
    assert check_parts(measure("Ж" * 71, "utf-16"), 1) == 105


def test_check_parts_accepts_texts_within_the_allowed_parts():
    assert check_parts(measure("a" * 160, "gsm"), 1) is None
    assert check_parts(measure("a" * 161, "gsm"), 2) is None
    assert check_parts(measure("a" * 2295, "gsm"), 15) is None
    assert check_parts(measure("a" * 10, "gsm"), 15) is None  # uses fewer parts than allowed
