"""Correction requests ("this is wrong", PIPL's right to correction) are disputes.

A holder saying a field of their golden record is wrong, and an approval system saying the
same, are one thing: a claim about one subject's field, sent to the department that is the
field's authoritative source, closed by that department's answer or by its next delivery of the
field, and marking the field ``disputed`` for granted readers meanwhile. So there is one rule,
:class:`sharing.disputes.DisputeDesk`, and the holder's pages file disputes through it (filer
``holder-pages``). What used to differ was where a request went: the department whose dataset
supplied the current value; a dispute goes to the authoritative department, whose value the
golden record keeps by precedence, so the one whose correction changes it.

:func:`move_to_disputes` moves the requests a hub stored before (table
``holder_corrections``) into the disputes once: open ones stay open, answered ones keep their
answer, corrected ones are closed by delivery.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, delete, insert, select

from holder import store

FILER = "holder-pages"  # the client the holder's own disputes are filed as
CLOSED_BY = {"answered": "answer", "corrected": "delivery"}


def move_to_disputes(engine: Engine) -> int:
    """Move every stored correction request into the disputes table; how many moved."""
    from storage.findings import DisputeStore, disputes

    DisputeStore(engine)  # the disputes table exists
    store.create(engine)
    old = store.corrections
    with store.write(engine) as conn:
        rows = conn.execute(select(old).order_by(old.c.id)).all()
        for r in rows:
            values: dict[str, Any] = {
                "dispute_id": f"DS{r.created_at:%Y%m%d}-c{r.id}",
                "client_id": FILER,
                "library": "population",
                "subject": r.holder,
                "field": r.field,
                "claimed_value": "",
                "evidence": r.note,
                "department": r.department,
                "status": "open" if r.status == "open" else "closed",
                "closed_by": CLOSED_BY.get(r.status),
                "answer": r.answer,
                "filed_at": r.created_at,
                "closed_at": r.closed_at,
            }
            conn.execute(insert(disputes).values(**values))
        if rows:
            conn.execute(delete(old).where(old.c.id.in_([r.id for r in rows])))
    return len(rows)
