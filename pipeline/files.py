"""A department file in a contract's format and encoding, made from rows of text.

What a data steward's corrected rows are sent as (:mod:`pipeline.resubmit`), and what the
synthetic department files of the demo and the benchmarks are written with.
"""

from __future__ import annotations

import csv
import io
import json

from schemas.contracts import Contract

SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet", "xlsx": ".xlsx"}


def contract_file(contract: Contract, rows: list[list[str]]) -> tuple[bytes, str]:
    """``rows`` (one text per contract column) as a file of ``contract``'s format and encoding
    ("auto" is written as GB18030), and the file name's suffix."""
    names = list(contract.column_names)
    suffix = SUFFIX[contract.format]
    if contract.format == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, delimiter=contract.delimiter, lineterminator="\n")
        w.writerow(names)
        w.writerows(rows)
        enc = {"auto": "gb18030"}.get(contract.encoding, contract.encoding)
        return buf.getvalue().encode(enc), suffix
    if contract.format == "jsonl":
        lines = []
        for r in rows:
            obj = {n: v for n, v in zip(names, r, strict=True) if v != ""}
            lines.append(json.dumps(obj, ensure_ascii=False) + "\n")
        return "".join(lines).encode("utf-8"), suffix
    out = io.BytesIO()
    if contract.format == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
        pq.write_table(pa.table({n: list(c) for n, c in zip(names, cols, strict=True)}), out)
    else:
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("data")
        ws.append(names)
        for r in rows:
            ws.append(r)
        wb.save(out)
    return out.getvalue(), suffix
