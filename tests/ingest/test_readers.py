"""Readers: every encoding and format into Arrow; unreadable files give one clear ReadError."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook

from schemas.contracts import Contract
from schemas.readers import MAX_FIELD_CHARS, ReadError
from tests.ingest.typed_read import read_typed

CSV = "id_number,name,birth_date,children,verified\n11010519491231002X,张三,1949-12-31,2,是\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings_detected(contract: Contract, encoding: str) -> None:
    res = read_typed(CSV.encode(encoding), contract, "f.csv")
    assert res.table.column("name").to_pylist() == ["张三"]
    assert str(res.table.column("birth_date")[0]) == "1949-12-31"
    assert res.table.column("children").to_pylist() == [2]
    assert res.table.column("verified").to_pylist() == [True]
    assert res.reasons.to_pylist() == [[]]
    assert res.encoding == encoding if encoding != "gb18030" else res.encoding == "gb18030"


def test_bad_values_become_reasons_not_failures(contract: Contract) -> None:
    text = (
        "id_number,name,birth_date,children,verified\n"
        "1,=cmd|' /C calc'!A0,1985-02-30,x,maybe\n"
        '2,"a\x07b",19850228,3,否\n'
        f"3,{'长' * (MAX_FIELD_CHARS + 1)},,,\n"
        "4,Robert'); DROP TABLE persons;--,2001年2月3日,,\n"
    )
    res = read_typed(text.encode(), contract, "dirty.csv")
    reasons = res.reasons.to_pylist()
    # a formula is read as inert text: whether it is one is the quality engine's rule
    assert set(reasons[0]) == {
        "birth_date:TYPE",
        "children:TYPE",
        "verified:TYPE",
    }
    assert reasons[1] == ["name:CONTROL_CHAR"]
    assert str(res.table.column("birth_date")[1]) == "1985-02-28"
    assert reasons[2] == ["name:TOO_LONG"]
    # SQL fragments are just text; a date is YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD, nothing else
    assert reasons[3] == ["birth_date:TYPE"]
    assert res.table.column("name")[3].as_py() == "Robert'); DROP TABLE persons;--"
    assert res.table.column("birth_date")[3].as_py() is None
    # raw text is kept as sent, for quarantine
    assert res.raw.column("name")[0].as_py() == "=cmd|' /C calc'!A0"
    assert res.table.column("_row").to_pylist() == [0, 1, 2, 3]


def test_jsonl_parquet_xlsx(make_contract: Callable[[str], Contract]) -> None:
    rows = [{"id_number": "11010519491231002X", "name": "张三", "birth_date": "1949-12-31"}]
    jl = make_contract("jsonl")
    res = read_typed("\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode(), jl, "a")
    assert res.table.column("name").to_pylist() == ["张三"]

    pqc = make_contract("parquet")
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    res = read_typed(buf.getvalue(), pqc, "a.parquet")
    assert str(res.table.column("birth_date")[0]) == "1949-12-31"

    xc = make_contract("xlsx")
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["id_number", "name", "children"])
    ws.append(["11010519491231002X", "张三", 2.0])
    ws.append(["110105194912310021", '=HYPERLINK("http://x")', None])
    out = io.BytesIO()
    wb.save(out)
    res = read_typed(out.getvalue(), xc, "a.xlsx")
    assert res.table.column("children").to_pylist() == [2, None]
    # the cell's formula is read as its text, inert; the quality engine judges it
    assert res.reasons.to_pylist()[1] == []
    assert res.table.column("name")[1].as_py() == '=HYPERLINK("http://x")'


@pytest.mark.parametrize(
    ("data", "fmt", "problem"),
    [
        (b"", "csv", "empty file"),
        (b"id_number,name\n", "csv", "no data rows"),
        (CSV.replace(",", ";").encode(), "csv", "wrong delimiter"),
        (b"id_number,birth_date\n1,2020-01-01\n", "csv", "missing required columns: name"),
        (CSV.encode("utf-16"), "csv", "unknown encoding"),
        (b"id_number,name\n\xff\xfe\xfd,x\n", "csv", "unknown encoding"),
        (CSV.encode("gb18030")[:-2], "csv", "truncated"),
        (b"id_number,name,birth_date\n1,a,2020-01-01\n2,b\n", "csv", "truncated"),
        (b"PAR1\x00\x00", "csv", "looks like parquet"),
        (CSV.encode(), "parquet", "not a Parquet file"),
        (b"PAR1" + b"\x00" * 20, "parquet", "corrupt Parquet"),
        (b"PK\x03\x04garbage", "xlsx", "corrupt XLSX"),
        (b'{"id_number": "1", "name": "a"}\n{"id_number": ', "jsonl", "not valid JSON"),
    ],
)
def test_unreadable_files(
    make_contract: Callable[[str], Contract], data: bytes, fmt: str, problem: str
) -> None:
    c = make_contract(fmt)
    with pytest.raises(ReadError, match=problem) as info:
        read_typed(data, c, "dept_file.dat")
    assert str(info.value).startswith("dept_file.dat: ")


@given(st.lists(st.lists(st.booleans(), min_size=5, max_size=5), min_size=0, max_size=4))
def test_reason_lists_are_the_flagged_codes_per_row_in_flag_order(masks: list[list[bool]]) -> None:
    from schemas.readers.results import reason_lists

    flags = [(f"c{k}:RULE", pa.array(m)) for k, m in enumerate(masks)]
    expected = [[code for code, m in flags if m[i].as_py()] for i in range(5)]
    assert reason_lists(5, flags).to_pylist() == expected


@given(
    st.lists(st.one_of(st.none(), st.dates()), max_size=20),
    st.lists(st.one_of(st.none(), st.integers(-(2**62), 2**62)), max_size=20),
    st.lists(st.one_of(st.none(), st.decimals(-(10**15), 10**15, places=2)), max_size=20),
    st.lists(st.one_of(st.none(), st.booleans()), max_size=20),
    st.lists(
        st.one_of(
            st.none(),
            st.datetimes(dt.datetime(1000, 1, 1), dt.datetime(9999, 12, 31)).map(
                lambda t: t.replace(microsecond=0)
            ),
        ),
        max_size=20,
    ),
)
def test_arrow_library_text_equals_the_library_own_conversion(
    dates: list[object],
    ints: list[object],
    decimals: list[object],
    bools: list[object],
    times: list[object],
) -> None:
    from pipeline.merge import as_library_text
    from schemas.contracts import ARROW_TYPES
    from storage.library import library_text

    for values, kind in (
        (dates, "date"),
        (ints, "int"),
        (decimals, "decimal"),
        (bools, "bool"),
        (times, "datetime"),
    ):
        arr = pa.array(values, ARROW_TYPES[kind])
        expected = [None if v is None else library_text(v) for v in arr.to_pylist()]
        assert as_library_text(arr).to_pylist() == expected, kind


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.from_regex(r"\A[ 　]?[0-9０-９]{15}[ ]?\Z"),
            st.from_regex(r"\A[0-9]{17}[0-9xX]\Z"),
            st.text(alphabet="0123456789Xx ９Ｘａ-", max_size=20),
        ),
        max_size=15,
    ),
    st.sampled_from(["population", "legal-entity"]),
)
def test_ingest_subject_keys_are_the_library_subject_keys(
    values: list[str | None], library: str
) -> None:
    """The ingest's vectorised keys equal the key a request is looked up by."""
    from pipeline.merge import _subjects
    from schemas.library import subject_key

    got = _subjects(pa.array(values, pa.string()), library).to_pylist()
    assert got == [None if v is None else subject_key(library, v) for v in values]


def test_a_contract_names_its_sheet_only_for_a_workbook(tmp_path: Path) -> None:
    from schemas.contracts import ContractError, load_contract
    from tests.ingest.conftest import PERSON_CONTRACT

    xlsx = tmp_path / "x.yaml"
    xlsx.write_text(PERSON_CONTRACT.format(fmt="xlsx") + "sheet: 登记信息\n", encoding="utf-8")
    assert load_contract(xlsx).sheet == "登记信息"
    csv = tmp_path / "c.yaml"
    csv.write_text(PERSON_CONTRACT.format(fmt="csv") + "sheet: 登记信息\n", encoding="utf-8")
    with pytest.raises(ContractError, match=r"c\.yaml:\d+: sheet: only an xlsx contract"):
        load_contract(csv)
