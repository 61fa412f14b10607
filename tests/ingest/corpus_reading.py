"""A corpus of hostile department files for the readers (issue: reading files), built in memory.

Every case is made here from text and code, never stored as a binary blob: the bytes of the
file, the contract it is delivered under, and its exact expected outcome. A case is either
refused (``refused`` is a regular expression the run's message must match: it names the line
and the byte where the evidence lies) or read: then ``rows`` is the number of data rows counted
independently of the readers, ``quarantined`` maps each rejected row (0-based data row) to its
reason codes, and ``stored`` holds the values the library keeps for the accepted rows, as
(subject, field) -> value. ``python -m tests.ingest.corpus_reading DIR`` writes the files and
an index, to feed them to ``hub ingest`` by hand.
"""

from __future__ import annotations

import io
import json
import re
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from schemas.resident_id import check_character

CONTRACT = """\
dataset_id: corpus_{fmt}{suffix}
title: 读取语料 (reading corpus)
department: 测试局
library: population
format: {fmt}
encoding: {encoding}
{sheet}columns:
  - {{name: id_number, type: string, required: true, field: id_number, rules: [resident_id]}}
  - {{name: name, type: string, required: true, field: name, rules: [{{max_length: 50}}]}}
  - {{name: address, type: string, field: household_address}}
  - {{name: birth_date, type: date, field: birth_date}}
  - {{name: children, type: int}}
  - {{name: remark, type: string}}
key: id_number
subject_column: id_number
authoritative_for: [name]
cadence_days: 1
"""
COLUMNS = ["id_number", "name", "address", "birth_date", "children", "remark"]


def contract_yaml(fmt: str, encoding: str = "auto", sheet: str | None = None) -> tuple[str, str]:
    """(dataset id, contract text) of the corpus contract in ``fmt``."""
    suffix = ("_" + encoding.replace("-", "")) if encoding != "auto" else ""
    suffix += "_sheet" if sheet else ""
    text = CONTRACT.format(
        fmt=fmt,
        suffix=suffix,
        encoding=encoding,
        sheet=f"sheet: {sheet}\n" if sheet else "",
    )
    return f"corpus_{fmt}{suffix}", text


def rid(n: int) -> str:
    """A valid 18-digit resident ID of Beijing Chaoyang, born in 1980, number ``n``."""
    body = f"1101051980{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return body + check_character(body)


DIGIT_IDS = [n for n in range(20, 60) if rid(n)[-1] != "X"]  # IDs a spreadsheet number can hold


def birth(n: int) -> str:
    i = rid(n)
    return f"{i[6:10]}-{i[10:12]}-{i[12:14]}"


@dataclass(frozen=True)
class Case:
    name: str
    klass: int  # the class of input (1 encoding ... 7 bombs)
    fmt: str
    data: bytes
    encoding: str = "auto"
    sheet: str | None = None
    refused: str | None = None
    rows: int | None = None
    quarantined: dict[int, list[str]] = field(default_factory=dict)
    stored: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"{self.name}.{self.fmt}"


def _line(n: int, name: str, address: str = "", children: str = "1", remark: str = "") -> str:
    return ",".join([rid(n), name, address, birth(n), children, remark])


HEADER = ",".join(COLUMNS)


def _stored(rows: list[tuple[int, str, str]]) -> dict[tuple[str, str], str]:
    """The library's values of accepted rows (subject number, name, address)."""
    out: dict[tuple[str, str], str] = {}
    for n, name, address in rows:
        out[(rid(n), "name")] = name
        out[(rid(n), "birth_date")] = birth(n)
        if address:
            out[(rid(n), "household_address")] = address
    return out


def count_csv_rows(data: bytes) -> int:
    """Data rows counted without the readers: non-blank lines after the header (line breaks
    are the same bytes in UTF-8 and GB18030)."""
    lines = re.split(rb"\r\n|\r|\n", data)
    return sum(1 for line in lines[1:] if line.strip(b" \t"))


# ---- workbooks ----------------------------------------------------------------------------------


def workbook(sheets: list[tuple[str, list[list[object]]]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    first = wb.active
    assert first is not None
    wb.remove(first)
    for title, rows in sheets:
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def parquet(columns: dict[str, list[object]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


def replace_part(xlsx: bytes, part: str, content: bytes) -> bytes:
    """The workbook with one part's bytes replaced (for hand-made sheet XML)."""
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = content if info.filename == part else src.read(info.filename)
            dst.writestr(info.filename, data)
    return out.getvalue()


SHEET1 = "xl/worksheets/sheet1.xml"


def sheet_xml(rows: list[tuple[int, list[tuple[str, str, str]]]], dimension: str = "") -> bytes:
    """Sheet XML from (row number, [(cell ref, type, value)]) with inline strings."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    ]
    if dimension:
        parts.append(f'<dimension ref="{dimension}"/>')
    parts.append("<sheetData>")
    for number, cells in rows:
        parts.append(f'<row r="{number}">')
        for ref, kind, value in cells:
            if kind == "s":
                parts.append(f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>')
            else:
                parts.append(f'<c r="{ref}"><v>{value}</v></c>')
        parts.append("</row>")
    parts.append("</sheetData></worksheet>")
    return "".join(parts).encode()


def _xrow(number: int, values: list[str]) -> tuple[int, list[tuple[str, str, str]]]:
    return number, [(f"{chr(65 + i)}{number}", "s", v) for i, v in enumerate(values) if v]


def _one_sheet(rows: list[tuple[int, list[tuple[str, str, str]]]], dimension: str = "") -> bytes:
    base = workbook([("data", [["x"]])])
    return replace_part(base, SHEET1, sheet_xml(rows, dimension))


def _forged_size(xlsx: bytes, part: str, size: int) -> bytes:
    """The archive with ``part``'s declared inflated size set to ``size`` (central directory)."""
    data = bytearray(xlsx)
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    info = src.getinfo(part)
    name = part.encode()
    cd = data.rfind(b"PK\x01\x02", 0, len(data))
    while cd >= 0:
        nlen = int.from_bytes(data[cd + 28 : cd + 30], "little")
        if data[cd + 46 : cd + 46 + nlen] == name:
            data[cd + 24 : cd + 28] = size.to_bytes(4, "little")
            break
        cd = data.rfind(b"PK\x01\x02", 0, cd)
    assert info.file_size != size
    return bytes(data)


# ---- the cases ----------------------------------------------------------------------------------


def _csv(*lines: str, end: str = "\n") -> str:
    return end.join([HEADER, *lines]) + end


def _ambiguous_utf8() -> bytes:
    """UTF-8 text whose Chinese runs all have an even length: valid GB18030 as well."""
    text = _csv(_line(1, "张三", "北京"), _line(2, "李四", "上海"))
    data = text.encode("utf-8")
    data.decode("gb18030")  # the point of the case: both decodings succeed
    return data


def _rare_ambiguous_utf8() -> bytes:
    text = _csv(_line(3, "王喆", "河北"), _line(4, "赵磊", "天津"))
    data = text.encode("utf-8")
    data.decode("gb18030")
    return data


def cases() -> list[Case]:
    out: list[Case] = []
    add = out.append

    # 1. encoding ---------------------------------------------------------------------------
    text = _csv(_line(1, "张三", "北京市朝阳区建国路1号"), _line(2, "买买提·艾力", "乌鲁木齐"))
    stored = _stored([(1, "张三", "北京市朝阳区建国路1号"), (2, "买买提·艾力", "乌鲁木齐")])
    add(Case("utf8_plain", 1, "csv", text.encode(), rows=2, stored=stored))
    add(Case("utf8_bom", 1, "csv", text.encode("utf-8-sig"), rows=2, stored=stored))
    add(Case("gb18030_auto", 1, "csv", text.encode("gb18030"), rows=2, stored=stored))
    add(
        Case("gb18030_declared", 1, "csv", text.encode("gb18030"), "gb18030", rows=2, stored=stored)
    )
    add(
        Case(
            "ambiguous_even_runs_read_as_utf8",
            1,
            "csv",
            _ambiguous_utf8(),
            rows=2,
            stored=_stored([(1, "张三", "北京"), (2, "李四", "上海")]),
        )
    )
    add(
        Case(
            "ambiguous_rare_name_read_as_utf8",
            1,
            "csv",
            _rare_ambiguous_utf8(),
            rows=2,
            stored=_stored([(3, "王喆", "河北"), (4, "赵磊", "天津")]),
        )
    )
    # GB2312 characters whose two bytes are also a UTF-8 character (lead 0xC4-0xDF, trail
    # 0xA1-0xBF): read as UTF-8 they are Latin, Greek or Cyrillic letters, so GB18030 wins
    gb_as_utf8 = _csv(_line(5, "莫默", "木目农弄"), _line(6, "牛暖", "慕女")).encode("gb18030")
    gb_as_utf8.decode("utf-8")  # the point of the case: both decodings succeed
    add(
        Case(
            "ambiguous_gb18030_valid_as_utf8",
            1,
            "csv",
            gb_as_utf8,
            rows=2,
            stored=_stored([(5, "莫默", "木目农弄"), (6, "牛暖", "慕女")]),
        )
    )
    gb = (HEADER + "\n" + _line(1, "张三", "北京市朝阳区") + "\n").encode("gb18030")
    u8 = (_line(2, "李四", "上海市浦东新区世纪大道路") + "\n").encode("utf-8")
    gb_tail = (_line(3, "王五", "天津市和平区") + "\n").encode("gb18030")
    mixed = gb + u8 + gb_tail
    mixed.decode("gb18030")  # the UTF-8 line decodes as GB18030 too: only evidence tells
    first_u8 = len(gb) + len(rid(2)) + 1
    first_gb = len(HEADER) + 1 + len(rid(1)) + 1
    add(
        Case(
            "gb18030_with_a_utf8_line",
            1,
            "csv",
            mixed,
            refused=rf"mixed encodings: line 3 is UTF-8 \(from line 3, byte {first_u8} "
            rf"\(0xE6\)\) but the file is not: line 2, byte {first_gb} \(0xD5\) is not valid",
        )
    )
    u8a = (HEADER + "\n" + _line(1, "张三", "北京") + "\n").encode("utf-8")
    gbl = (_line(2, "李四", "上海市浦东新区") + "\n").encode("gb18030")
    add(
        Case(
            "utf8_with_a_gb18030_line",
            1,
            "csv",
            u8a + gbl,
            refused=rf"mixed encodings: line 2 is UTF-8 \(from line 2, byte "
            rf"{len(HEADER) + 1 + len(rid(1)) + 1} \(0xE5\)\) but the file is not: line 3, "
            rf"byte {len(u8a) + len(rid(2)) + 1} \(0xC0\) is not valid UTF-8",
        )
    )
    add(
        Case(
            "declared_gb18030_but_utf8",
            1,
            "csv",
            _ambiguous_utf8(),
            "gb18030",
            refused=rf"the contract declares gb18030 but the file is UTF-8 \(from line 2, byte "
            rf"{len(HEADER) + 1 + len(rid(1)) + 1} \(0xE5\)\)",
        )
    )
    add(
        Case(
            "declared_utf8_with_a_gb_line",
            1,
            "csv",
            u8a + gbl,
            "utf-8",
            refused=rf"not valid UTF-8 at line 3, byte {len(u8a) + len(rid(2)) + 1} \(0xC0\); "
            "the contract declares utf-8",
        )
    )
    mojibake = "张三".encode().decode("cp1252", errors="replace")
    moji = _csv(_line(1, "李四"), _line(2, mojibake)).encode("utf-8")
    add(
        Case(
            "utf8_latin1_mojibake",
            1,
            "csv",
            moji,
            refused=rf"mojibake: .* at line 3, byte "
            rf"{len(HEADER) + 1 + len(_line(1, '李四').encode()) + 1 + len(rid(2)) + 1} \(0xC3\)",
        )
    )
    bad = _csv(_line(1, "Ab"), _line(2, "Cd")).encode().replace(b"Cd", b"C\xff")
    at = bad.index(b"\xff")
    add(
        Case(
            "neither_utf8_nor_gb18030",
            1,
            "csv",
            bad,
            refused=rf"not valid UTF-8 \(at line 3, byte {at} \(0xFF\)\) nor GB18030 "
            rf"\(at line 3, byte {at} \(0xFF\)\)",
        )
    )

    gb_bad = _csv(_line(1, "张三"), _line(2, "李四")).encode("gb18030")
    bad_at = gb_bad.index(b"\xc0\xee")  # the first byte of 李, made invalid
    gb_bad = gb_bad[:bad_at] + b"\xff" + gb_bad[bad_at + 1 :]
    add(
        Case(
            "gb18030_with_an_invalid_byte",
            1,
            "csv",
            gb_bad,
            refused=rf"not valid UTF-8 \(at line 2, byte {len(HEADER) + 1 + len(rid(1)) + 1} "
            rf"\(0xD5\)\) nor GB18030 \(at line 3, byte {bad_at} \(0xFF\)\)",
        )
    )

    # 3. rows lost while reading --------------------------------------------------------------
    rows_a = [COLUMNS, [rid(1), "张三", "", birth(1), "1", ""]]
    rows_b = [COLUMNS, [rid(2), "李四", "", birth(2), "2", ""], [rid(3), "王五", "", birth(3)]]
    add(
        Case(
            "xlsx_two_data_sheets",
            3,
            "xlsx",
            workbook([("一月", rows_a), ("二月", rows_b)]),
            refused=r"several sheets have the contract's columns \('一月', '二月'\)",
        )
    )
    add(
        Case(
            "xlsx_sheet_named_by_contract",
            3,
            "xlsx",
            workbook([("一月", rows_a), ("二月", rows_b)]),
            sheet="二月",
            rows=2,
            stored=_stored([(2, "李四", ""), (3, "王五", "")]),
        )
    )
    add(
        Case(
            "xlsx_named_sheet_missing",
            3,
            "xlsx",
            workbook([("一月", rows_a)]),
            sheet="二月",
            refused=r"no sheet '二月' \(the workbook has '一月'\)",
        )
    )
    add(
        Case(
            "csv_unterminated_quote",
            3,
            "csv",
            _csv(_line(1, "张三"), _line(2, '"李四'), _line(3, "王五")).encode(),
            refused=r"line 3: a quoted value is not closed on its line",
        )
    )
    add(
        Case(
            "csv_quote_closed_lines_later",
            3,
            "csv",
            _csv(_line(1, "张三"), _line(2, '"李四'), _line(3, 'x"'), _line(4, "赵六")).encode(),
            refused=r"line 3: a quoted value is not closed on its line .*through line 4",
        )
    )
    spaced = _csv(_line(1, "张三"), "", "   ", _line(2, "李四"), "\t", _line(3, "王五"))
    add(
        Case(
            "csv_blank_and_space_lines",
            3,
            "csv",
            spaced.encode(),
            rows=3,
            stored=_stored([(1, "张三", ""), (2, "李四", ""), (3, "王五", "")]),
        )
    )
    quoted = _csv(f'"{rid(1)}","张,三","北京, 朝阳","{birth(1)}","1",""')
    add(
        Case(
            "csv_quoted_values_with_delimiters",
            3,
            "csv",
            quoted.encode(),
            rows=1,
            stored=_stored([(1, "张,三", "北京, 朝阳")]),
        )
    )

    # 4. wrong values accepted (the reader's part) ----------------------------------------------
    a, b = DIGIT_IDS[:2]
    numeric = [
        COLUMNS,
        [rid(1), "张三", "", birth(1), 1, ""],
        [int(rid(a)), "李四", "", birth(a), 1, ""],
        [int(rid(b)), "王五", "", birth(b), 2, ""],
    ]
    add(
        Case(
            "xlsx_identifier_as_number",
            4,
            "xlsx",
            workbook([("data", numeric)]),
            rows=3,
            # read back as a float, the number has lost its last digits: the check character
            # no longer matches either, which is the danger when it still does
            quarantined={
                1: ["id_number:CHECKSUM", "id_number:NUMERIC_CELL"],
                2: ["id_number:CHECKSUM", "id_number:NUMERIC_CELL"],
            },
            stored=_stored([(1, "张三", "")]),
        )
    )

    long_numbers = [
        COLUMNS,
        [rid(1), "张三", "", birth(1), 1, 12345],
        [rid(2), "李四", "", birth(2), 1, 6222021234567890123],
    ]
    add(
        Case(
            "xlsx_long_number_in_a_text_column",
            4,
            "xlsx",
            workbook([("data", long_numbers)]),
            rows=2,
            quarantined={1: ["remark:NUMERIC_CELL"]},
            stored=_stored([(1, "张三", "")]),
        )
    )
    add(
        Case(
            "parquet_identifier_as_number",
            4,
            "parquet",
            parquet(
                {
                    "id_number": [int(rid(a)), int(rid(b))],
                    "name": ["张三", "李四"],
                    "birth_date": [birth(a), birth(b)],
                }
            ),
            rows=2,
            quarantined={0: ["id_number:TYPE"], 1: ["id_number:TYPE"]},
        )
    )

    def jl(*objs: object) -> bytes:
        return "\n".join(json.dumps(o, ensure_ascii=False) for o in objs).encode() + b"\n"

    def obj(n: int, **kw: object) -> dict[str, object]:
        base: dict[str, object] = {"id_number": rid(n), "name": "张三", "birth_date": birth(n)}
        base.update(kw)
        return base

    add(
        Case(
            "jsonl_non_strings_in_string_fields",
            4,
            "jsonl",
            jl(
                obj(1),
                obj(2, name=["李四"]),
                obj(3, name={"given": "五"}),
                obj(4, name=True),
                obj(5, address=12),
                obj(6, children=2),
                obj(DIGIT_IDS[0], id_number=int(rid(DIGIT_IDS[0]))),
            ),
            rows=7,
            quarantined={
                1: ["name:TYPE"],
                2: ["name:TYPE"],
                3: ["name:TYPE"],
                4: ["address:TYPE"],
                6: ["id_number:TYPE"],
            },
            stored=_stored([(1, "张三", ""), (6, "张三", "")]),
        )
    )
    add(
        Case(
            "jsonl_list_in_int_field",
            4,
            "jsonl",
            jl(obj(1, children=[1, 2]), obj(2, children=3)),
            rows=2,
            quarantined={0: ["children:TYPE"]},
            stored=_stored([(2, "张三", "")]),
        )
    )

    # 5. tracebacks and stuck runs ------------------------------------------------------------
    add(
        Case(
            "csv_duplicate_header",
            5,
            "csv",
            ("id_number,name,address,name\n" + f"{rid(1)},张三,北京,李四\n").encode(),
            refused=r"duplicate column 'name' in the header \(columns 2 and 4\)",
        )
    )
    good = workbook([("data", rows_a)])
    add(
        Case(
            "xlsx_corrupt_archive",
            5,
            "xlsx",
            good[: len(good) // 2],
            refused=r"truncated or corrupt XLSX",
        )
    )
    add(
        Case(
            "xlsx_broken_sheet_xml",
            5,
            "xlsx",
            replace_part(good, SHEET1, sheet_xml([_xrow(1, COLUMNS)])[:-30]),
            refused=r"corrupt XLSX: a part is not valid XML \(no element found: line 1, column \d+\)",
        )
    )
    add(
        Case(
            "xlsx_duplicate_header",
            5,
            "xlsx",
            workbook([("data", [["id_number", "name", "name"], [rid(1), "张三", "李四"]])]),
            refused=r"duplicate column 'name' in the header \(columns 2 and 3\)",
        )
    )
    add(
        Case(
            "xlsx_not_a_zip",
            5,
            "xlsx",
            b"PK\x03\x04" + b"\x00" * 64,
            refused=r"truncated or corrupt XLSX",
        )
    )
    add(
        Case(
            "parquet_nested_column",
            5,
            "parquet",
            parquet({"id_number": [rid(1)], "name": [["张", "三"]]}),
            refused=r"column 'name' holds list<.*> values, not text",
        )
    )
    add(
        Case(
            "jsonl_duplicate_key",
            5,
            "jsonl",
            jl(obj(1)) + b'{"id_number": "1", "name": "a", "name": "b"}\n',
            refused=r"line 2: key 'name' appears twice in one object",
        )
    )
    add(
        Case(
            "jsonl_nested_too_deep",
            5,
            "jsonl",
            b'{"id_number": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
            refused=r"line 1: JSON nested too deeply",
        )
    )
    add(
        Case(
            "jsonl_not_an_object",
            5,
            "jsonl",
            jl(obj(1), ["a"]),
            refused=r"line 2: expected a JSON object, not a list",
        )
    )

    # 6. good files refused, or refused with the wrong reason --------------------------------
    cr = _csv(_line(1, "张三", "北京"), _line(2, "李四", "上海"), end="\r")
    add(
        Case(
            "csv_cr_only_line_ends",
            6,
            "csv",
            cr.encode("gb18030"),
            rows=2,
            stored=_stored([(1, "张三", "北京"), (2, "李四", "上海")]),
        )
    )
    add(
        Case(
            "csv_crlf_line_ends_utf8",
            6,
            "csv",
            cr.replace("\r", "\r\n").encode(),
            rows=2,
            stored=_stored([(1, "张三", "北京"), (2, "李四", "上海")]),
        )
    )
    add(
        Case(
            "jsonl_u2028_inside_a_string",
            6,
            "jsonl",
            jl(obj(1, remark="第一行\u2028第二行"), obj(2, name="李四")),
            rows=2,
            stored=_stored([(1, "张三", ""), (2, "李四", "")]),
        )
    )
    pretty = json.dumps([obj(1), obj(2, name="李四")], ensure_ascii=False, indent=2).encode()
    add(
        Case(
            "json_pretty_printed_array",
            6,
            "jsonl",
            pretty,
            rows=2,
            stored=_stored([(1, "张三", ""), (2, "李四", "")]),
        )
    )
    add(
        Case(
            "csv_ragged_row",
            6,
            "csv",
            _csv(_line(1, "张三"), f"{rid(2)},李四,北京", _line(3, "王五")).encode(),
            refused=r"malformed: line 3 has 3 fields, the header has 6",
        )
    )
    add(
        Case(
            "csv_truncated_last_row",
            6,
            "csv",
            _csv(_line(1, "张三"), f"{rid(2)},李四").encode(),
            refused=r"truncated or malformed: line 3 has 2 fields, the header has 6",
        )
    )
    add(
        Case(
            "csv_quoted_header",
            6,
            "csv",
            (",".join(f'"{c}"' for c in COLUMNS) + "\n" + _line(1, "张三") + "\n").encode(),
            rows=1,
            stored=_stored([(1, "张三", "")]),
        )
    )
    trailing = (HEADER + ",,\n" + _line(1, "张三", "北京") + ",,\n").encode("gb18030")
    add(
        Case(
            "csv_trailing_delimiters_in_the_header",
            6,
            "csv",
            trailing,
            rows=1,
            stored=_stored([(1, "张三", "北京")]),
        )
    )
    instructions = [["填表说明"], ["1. 身份证号请以文本格式填写"], ["2. 日期格式 YYYY-MM-DD"]]
    add(
        Case(
            "xlsx_instructions_sheet_first",
            6,
            "xlsx",
            workbook([("说明", instructions), ("数据", rows_b)]),
            rows=2,
            stored=_stored([(2, "李四", ""), (3, "王五", "")]),
        )
    )
    add(
        Case(
            "jsonl_blank_and_crlf_lines",
            6,
            "jsonl",
            jl(obj(1)).replace(b"\n", b"\r\n") + b"   \r\n\r\n" + jl(obj(2, name="李四")),
            rows=2,
            stored=_stored([(1, "张三", ""), (2, "李四", "")]),
        )
    )

    # 7. decompression and size bombs ---------------------------------------------------------
    data_rows = [_xrow(1, COLUMNS), _xrow(2, [rid(1), "张三", "", birth(1)])]
    add(
        Case(
            "xlsx_row_gap_of_a_million",
            7,
            "xlsx",
            _one_sheet([*data_rows, _xrow(1_048_576, [rid(2), "李四", "", birth(2)])]),
            rows=2,
            stored=_stored([(1, "张三", ""), (2, "李四", "")]),
        )
    )
    add(
        Case(
            "xlsx_huge_declared_dimension",
            7,
            "xlsx",
            _one_sheet(data_rows, dimension="A1:XFD1048576"),
            rows=1,
            stored=_stored([(1, "张三", "")]),
        )
    )
    add(
        Case(
            "xlsx_row_beyond_the_sheet",
            7,
            "xlsx",
            _one_sheet([*data_rows, _xrow(2_000_000_000, [rid(2), "李四"])]),
            refused=r"row 2000000000 is beyond the last row of a sheet \(1048576\)",
        )
    )
    wide = [*data_rows, (3, [("XFE3", "s", "x")])]
    add(
        Case(
            "xlsx_column_beyond_the_sheet",
            7,
            "xlsx",
            _one_sheet(wide),
            refused=r"column 16385 is beyond the last column of a sheet \(16384\)",
        )
    )
    padded = sheet_xml(data_rows).replace(b"<sheetData>", b"<sheetData>" + b" " * (40 << 20))
    add(
        Case(
            "xlsx_deflate_bomb",
            7,
            "xlsx",
            replace_part(workbook([("data", [["x"]])]), SHEET1, padded),
            refused=r"refused as a decompression bomb: part 'xl/worksheets/sheet1.xml'",
        )
    )
    add(
        Case(
            "xlsx_declared_size_huge",
            7,
            "xlsx",
            _forged_size(good, SHEET1, 0xFFFF_FFF0),
            refused=r"refused: its parts would inflate to \d+ bytes \(cap 536870912\)",
        )
    )
    return out


CASES: list[Case] = cases()


def main(argv: list[str]) -> int:
    """Write every case's file and contract into a folder, with ``index.json``."""
    folder = Path(argv[1] if len(argv) > 1 else "corpus-reading")
    (folder / "contracts").mkdir(parents=True, exist_ok=True)
    index = []
    writes: list[Callable[[], object]] = []
    for case in CASES:
        dataset, text = contract_yaml(case.fmt, case.encoding, case.sheet)
        writes.append(lambda d=dataset, t=text: (folder / "contracts" / f"{d}.yaml").write_text(t))
        writes.append(lambda c=case: (folder / c.filename).write_bytes(c.data))
        index.append({"case": case.name, "class": case.klass, "dataset": dataset})
    for write in writes:
        write()
    (folder / "index.json").write_text(json.dumps(index, ensure_ascii=False, indent=2))
    print(f"{len(CASES)} cases in {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
