"""National identifiers: the standards' vectors, every reason code, and algorithmic properties."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from schemas import licence_id, resident_id, uscc
from schemas.divisions import division_table

# --- resident ID: vectors from standards.md §1 -------------------------------------------------


def test_resident_id_standard_example_is_valid_with_derived_details() -> None:
    check = resident_id.validate("11010519491231002X")
    assert check.valid and check.reason is None
    assert check.details["birth_date"] == "1949-12-31"
    assert check.details["sex"] == "2"
    assert check.details["division_name"] == "北京市朝阳区"


def test_resident_id_wrong_check_character() -> None:
    assert resident_id.validate("110105194912310021").reason == "CHECKSUM"


def test_resident_id_15_digit_upgrades() -> None:
    assert resident_id.upgrade_15("110105491231002") == "11010519491231002X"
    check = resident_id.validate("110105491231002")
    assert check.valid and check.normalised == "11010519491231002X"
    assert check.details["upgraded_from"] == "110105491231002"


def test_resident_id_impossible_date_with_right_check() -> None:
    assert resident_id.check_character("34010419850230123") == "X"
    assert resident_id.validate("34010419850230123X").reason == "BIRTH_DATE"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "EMPTY"),
        ("   ", "EMPTY"),
        ("1101051949123100", "FORMAT"),
        ("11010519491231002Y", "FORMAT"),
        ("X1010519491231002X", "FORMAT"),
        ("11010519491231002X1", "FORMAT"),
        ("11010519491231００2Ｘ1", "FORMAT"),
        ("11010520991231002" + resident_id.check_character("11010520991231002"), "BIRTH_DATE"),
        ("11010519491331002" + resident_id.check_character("11010519491331002"), "BIRTH_DATE"),
        (
            "99999919491231002" + resident_id.check_character("99999919491231002"),
            "DIVISION_UNKNOWN",
        ),
        ("11010519491231996", "FORMAT"),
        ("110105491231996", "LEGACY_REVIEW"),
    ],
)
def test_resident_id_reason_codes(value: str, reason: str) -> None:
    assert resident_id.validate(value).reason == reason


def test_resident_id_unknown_division() -> None:
    body = "12345619491231002"
    assert not division_table().known("123456")
    assert resident_id.validate(body + resident_id.check_character(body)).reason == (
        "DIVISION_UNKNOWN"
    )


def test_foreigner_permanent_residence_id_needs_no_division() -> None:
    body = "93315619900101001"
    check = resident_id.validate(body + resident_id.check_character(body))
    assert check.valid and check.details["kind"] == "foreigner's permanent residence ID"


def test_abolished_division_codes_stay_valid() -> None:
    # 340102 was 东市区 until 2001 (then 瑶海区); 342101 belonged to the former Fuyang prefecture
    assert division_table().name("340102", 1990) == "东市区"
    assert division_table().name("340102", 2010) == "瑶海区"
    body = "34140119800101001"  # Chaohu (1999-2011), abolished
    assert division_table().known("341400")
    assert resident_id.validate(body + resident_id.check_character(body)).valid


def test_normalisation_of_full_width_spaces_and_lower_x() -> None:
    for typed in (
        "１１０１０５１９４９１２３１００２Ｘ",
        " 110105 19491231 002x ",
        "11010519491231002x",
    ):
        check = resident_id.validate(typed)
        assert check.valid and check.normalised == "11010519491231002X"


def test_unicode_look_alike_x_is_rejected() -> None:
    assert resident_id.validate("11010519491231002\u0425").reason == "FORMAT"  # Cyrillic Ha


# --- resident ID: properties ----------------------------------------------------------------

ANHUI = [c for c in division_table().codes("34") if not c.endswith("00")]


@st.composite
def resident_bodies(draw: st.DrawFn) -> str:
    division = draw(st.sampled_from(ANHUI))
    born = draw(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31)))
    seq = draw(st.integers(min_value=0, max_value=999))
    return f"{division}{born:%Y%m%d}{seq:03d}"


@given(resident_bodies())
def test_body_plus_its_check_character_validates(body: str) -> None:
    check = resident_id.validate(body + resident_id.check_character(body))
    assert check.valid, check


@given(resident_bodies(), st.integers(min_value=0, max_value=17), st.sampled_from("0123456789X"))
def test_any_single_substitution_is_caught(body: str, pos: int, char: str) -> None:
    number = body + resident_id.check_character(body)
    assume(number[pos] != char)
    mutated = number[:pos] + char + number[pos + 1 :]
    assert not resident_id.validate(mutated).valid


@given(resident_bodies(), st.integers(min_value=0, max_value=16))
def test_any_adjacent_transposition_is_caught(body: str, pos: int) -> None:
    number = body + resident_id.check_character(body)
    assume(number[pos] != number[pos + 1])
    mutated = number[:pos] + number[pos + 1] + number[pos] + number[pos + 2 :]
    assert not resident_id.validate(mutated).valid


# --- resident ID: vectorised agrees with scalar ---------------------------------------------

MIXED = st.one_of(
    st.none(),
    resident_bodies().map(lambda b: b + resident_id.check_character(b)),
    resident_bodies().map(lambda b: b + "0"),
    st.text(alphabet="0123456789Xx １", min_size=0, max_size=19),
    st.sampled_from(
        ["34010419850230123X", "110105491231002", "110105491231996", "12345619491231002X"]
    ),
)


@settings(max_examples=200)
@given(st.lists(MIXED, max_size=40))
def test_vectorised_resident_ids_match_scalar(values: list[str | None]) -> None:
    today = dt.date(2026, 1, 1)
    got = resident_id.validate_array(pa.array(values, type=pa.string()), today=today).to_pylist()
    want = [None if v is None else resident_id.validate(v, today=today).reason for v in values]
    assert got == want


def test_vectorised_derivations_and_sliced_input() -> None:
    values = pa.array(
        ["junk", "11010519491231002X", "34010419850230123X", None, "340403198001010015"]
    )
    sliced = values.slice(1)
    assert resident_id.validate_array(sliced).to_pylist() == [None, "BIRTH_DATE", None, "CHECKSUM"]
    births = resident_id.birth_date_array(sliced).to_pylist()
    assert births == [dt.date(1949, 12, 31), None, None, None]
    assert resident_id.sex_array(sliced).to_pylist() == ["2", None, None, None]
    chunked = pa.chunked_array([values.slice(0, 2), values.slice(2)])
    assert resident_id.validate_array(chunked).to_pylist()[:2] == ["FORMAT", None]


# --- USCC: vectors from standards.md §2 -----------------------------------------------------


@pytest.mark.parametrize("code", ["91110000600037341L", "91350100M000100Y43"])
def test_uscc_valid_vectors(code: str) -> None:
    check = uscc.validate(code)
    assert check.valid
    assert check.details["entity_type"] == "企业"


def test_uscc_invalid_vectors() -> None:
    assert uscc.validate("91110000600037341N").reason == "CHECKSUM"
    assert uscc.validate("9111000060003IOZSV").reason == "CHARSET"


def test_uscc_early_exception_needs_the_allow_list() -> None:
    code = "91350211M0000XUF46"
    assert uscc.validate(code).reason == "CHECKSUM"
    allowed = uscc.validate(code, allow={code})
    assert allowed.valid and allowed.details["allowed_exception"] == "CHECKSUM"
    assert uscc.validate_array([code]).to_pylist() == ["CHECKSUM"]
    assert uscc.validate_array([code], allow={code}).to_pylist() == [None]


def _uscc(body16: str) -> str:
    body17 = body16 + uscc.org_code_check(body16[8:16])
    return body17 + uscc.check_character(body17)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "EMPTY"),
        ("9111000060003734", "FORMAT"),
        ("91110000600037341L0", "FORMAT"),
        ("9111000060003734IL", "CHARSET"),
        (_uscc("B1110000600037AB"), "AUTHORITY"),
        (_uscc("9411000060003734"), "ENTITY_TYPE"),
        (_uscc("9112345660003734"), "DIVISION_UNKNOWN"),
    ],
)
def test_uscc_reason_codes(value: str, reason: str) -> None:
    assert uscc.validate(value).reason == reason


def test_uscc_organisation_code_check() -> None:
    body17 = "9134040060003734" + "5"  # right check would be computed by org_code_check
    assert uscc.org_code_check("60003734") != "5"
    code = body17 + uscc.check_character(body17)
    assert uscc.validate(code).reason == "ORG_CODE_CHECK"


def test_uscc_entity_types_of_civil_affairs() -> None:
    assert uscc.entity_type(_uscc("5134040050001234")) == ("民政", "社会团体")
    assert uscc.entity_type(_uscc("5334040050001234")) == ("民政", "基金会")


USCC_BODIES = st.builds(
    lambda a, d, org: _uscc(a + d + org),
    st.sampled_from(["91", "92", "93", "51", "52", "53", "11", "12", "Y1"]),
    st.sampled_from([*ANHUI[:50], "100000"]),
    st.text(alphabet="0123456789ABCDEFGHJKLMNPQRTUWXY", min_size=8, max_size=8),
)


@given(USCC_BODIES)
def test_uscc_body_plus_checks_validates(code: str) -> None:
    assert uscc.validate(code).valid


@given(USCC_BODIES, st.integers(min_value=0, max_value=17), st.sampled_from(uscc.CHARSET))
def test_uscc_single_substitution_is_caught(code: str, pos: int, char: str) -> None:
    assume(code[pos] != char)
    assert not uscc.validate(code[:pos] + char + code[pos + 1 :]).valid


@given(USCC_BODIES, st.integers(min_value=0, max_value=16))
def test_uscc_adjacent_transposition_is_caught(code: str, pos: int) -> None:
    assume(code[pos] != code[pos + 1])
    assert not uscc.validate(code[:pos] + code[pos + 1] + code[pos] + code[pos + 2 :]).valid


@settings(max_examples=200)
@given(
    st.lists(
        st.one_of(
            st.none(),
            USCC_BODIES,
            st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ", max_size=19),
            st.sampled_from(["91110000600037341N", "91350211M0000XUF46", "9111000060003IOZSV"]),
        ),
        max_size=40,
    )
)
def test_vectorised_uscc_matches_scalar(values: list[str | None]) -> None:
    got = uscc.validate_array(pa.array(values, type=pa.string())).to_pylist()
    assert got == [None if v is None else uscc.validate(v).reason for v in values]


# --- licence identifier: vectors from standards.md §4 ---------------------------------------

LICENCE = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403"


def test_licence_id_vectors() -> None:
    assert licence_id.validate(f"{LICENCE}.001.U").valid
    assert licence_id.validate(f"{LICENCE}.002.S").valid
    assert licence_id.validate(f"{LICENCE}.001.A").reason == "CHECKSUM"


def test_licence_id_build_matches_vector() -> None:
    built = licence_id.build("11100000000013338W011", "11430000006122244L", "20230000403", 2)
    assert built == f"{LICENCE}.002.S"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1.2.156.3005.3.11100000000013338W011.11430000006122244L.1.001.U", "PREFIX"),
        (f"{LICENCE}.001", "FORMAT"),
        ("1.2.156.3005.2.11100000000013338W01.11430000006122244L.1.001.U", "TYPE_CODE"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244N.1.001.U", "ISSUER_CODE"),
        ("1.2.156.3005.2.11100000000013338W011.11430000006122244L.A-1.001.U", "SERIAL"),
        (f"{LICENCE}.000.U", "VERSION"),
        ("", "EMPTY"),
    ],
)
def test_licence_id_reason_codes(value: str, reason: str) -> None:
    assert licence_id.validate(value).reason == reason


def test_licence_id_prefix_cache_never_answers_for_other_codes() -> None:
    # the type and issuer check is remembered per pair of exact strings: after a valid
    # identifier, the same one with one character of its issuer changed is checked afresh, and
    # a refused issuer stays refused however often it is asked
    good = f"{LICENCE}.001.U"
    assert licence_id.validate(good).valid
    altered_issuer = good.replace("11430000006122244L", "11430000006122244N")
    for _ in range(2):
        assert licence_id.validate(altered_issuer).reason == "ISSUER_CODE"
    altered_type = good.replace("11100000000013338W011", "11100000000013338X011")
    assert licence_id.validate(altered_type).reason == "TYPE_CODE"
    assert licence_id.validate(good).valid
    with pytest.raises(licence_id.LicenceIdError):
        licence_id.build("11100000000013338W011", "11430000006122244N", "1", 1)


@given(
    st.text(alphabet=licence_id.ALPHABET, min_size=2, max_size=60),
    st.data(),
)
def test_mod_37_36_catches_every_substitution(data: str, draw: st.DataObject) -> None:
    check = licence_id.check_character(data)
    pos = draw.draw(st.integers(min_value=0, max_value=len(data) - 1))
    char = draw.draw(st.sampled_from(licence_id.ALPHABET))
    if char != data[pos]:
        assert licence_id.check_character(data[:pos] + char + data[pos + 1 :]) != check


def test_mod_37_36_catches_nearly_every_adjacent_transposition() -> None:
    # ISO/IEC 7064 hybrid systems catch all substitutions but not all transpositions:
    # "IJ" and "JI" share the check character "0", so only the rate is a property.
    tried = missed = 0
    for prefix in ("", "A", "12", "X9Z", "11340400MB1234562J"):
        for a in licence_id.ALPHABET:
            for b in licence_id.ALPHABET:
                if a != b:
                    tried += 1
                    missed += licence_id.check_character(
                        f"{prefix}{a}{b}Q"
                    ) == licence_id.check_character(f"{prefix}{b}{a}Q")
    assert licence_id.check_character("IJ") == licence_id.check_character("JI")
    assert missed / tried < 0.01


# --- canonical forms: one identifier written several ways is one key ------------------------

ARABIC_INDIC = {48 + d: 0x660 + d for d in range(10)}


def test_digits_of_other_scripts_are_not_a_resident_id() -> None:
    """``\\d`` and ``int`` accept any script's digits: such a number validated and was stored
    in those digits. Only full-width digits (NFKC) become ASCII."""
    for digits in (ARABIC_INDIC, {48 + d: 0x966 + d for d in range(10)}):  # Devanagari
        assert resident_id.validate("11010519491231002X".translate(digits)).reason == "FORMAT"
        assert resident_id.validate("110105491231002".translate(digits)).reason == "FORMAT"
    with pytest.raises(ValueError):
        resident_id.check_character("11010519491231002".translate(ARABIC_INDIC))


@pytest.mark.parametrize(
    "written",
    [
        "11010519491231002X",
        "11010519491231002x",
        "１１０１０５１９４９１２３１００２Ｘ",
        "110105491231002",
        "１１０１０５４９１２３１００２",
        " 110105\u300019491231 002x ",
        "\u200b11010519491231002X\ufeff",
        "1101\u00ad0519491231002X",
    ],
)
def test_resident_id_canonical_form(written: str) -> None:
    assert resident_id.canonical(written) == "11010519491231002X"
    codes, _, _, keys = resident_id.scan_array(pa.array([written, None]), dt.date(2026, 1, 1))
    assert codes.tolist() == [0, 0] and keys.to_pylist() == ["11010519491231002X", None]


def test_legacy_review_numbers_keep_their_15_digits() -> None:
    assert resident_id.canonical("１１０１０５４９１２３１９９６") == "110105491231996"


@pytest.mark.parametrize(
    "written",
    ["91350100m000100y43", "９１３５０１００Ｍ０００１００Ｙ４３", " 91350100 M000100Y43\u200b"],
)
def test_uscc_canonical_form(written: str) -> None:
    codes, keys = uscc.scan_array(pa.array([written, "91350100M000100Y43", None]))
    assert codes.tolist() == [0, 0, 0]
    assert keys.to_pylist() == ["91350100M000100Y43", "91350100M000100Y43", None]


@settings(max_examples=200)
@given(st.lists(MIXED, max_size=40))
def test_vectorised_canonical_forms_match_scalar(values: list[str | None]) -> None:
    _, _, _, keys = resident_id.scan_array(pa.array(values, type=pa.string()), None)
    assert keys.to_pylist() == [None if v is None else resident_id.canonical(v) for v in values]


def test_bidi_controls_are_not_removed_from_identifiers() -> None:
    """Only harmless invisible characters are dropped; a bidirectional override is kept, so
    the value fails its check instead of being quietly repaired."""
    assert resident_id.validate("\u202e11010519491231002X").reason == "FORMAT"
