"""The ledger's snapshot source for licences: every authority's status lists, every checkpoint.

Every log the hub opens registers :func:`status_snapshot` (``hub.wiring.ledger_service``, which
the cloud-signature service's log comes from too, and the licence service itself), so
whichever process produces a checkpoint (``hub ledger checkpoint``, the API's background
sequencer, the licence service, the demo) appends, in the same transaction and under the same
checkpoint, one ``status_list`` entry per authority that has licences. Every checkpoint that
sequences anything carries a fresh snapshot of every such authority, changed or not: so a status
list committed with checkpoint N speaks for the state at N, and "not revoked as of N" needs no
search for later entries. The statuses are read in the sequencing transaction, after the batch's
entries were fetched: a lifecycle change whose row and entry commit together (the licence
service does that when the log shares its database) is in the snapshot exactly when its entry
lies before it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Connection, inspect, select

from licence.status_list import snapshot_entry
from licence.tables import counters, licences, status_lists

STATUS_COUNTER = "status:"  # licence_counters name prefix: "status:<authority USCC>"


Maker = Callable[[int, int], bytes]


def status_snapshot(conn: Connection, state_size: int) -> list[Maker]:
    """Entry makers (``make(checkpoint_size, index) -> bytes``) of every authority's status
    lists as of this transaction; nothing when this database holds no licence tables."""
    if not inspect(conn).has_table(licences.name):
        return []
    status_lists.create(conn, checkfirst=True)  # a database from before status lists
    sizes = {
        str(name).removeprefix(STATUS_COUNTER): int(value)
        for name, value in conn.execute(
            select(counters.c.name, counters.c.value).where(
                counters.c.name.like(STATUS_COUNTER + "%")
            )
        )
    }
    # only licences no longer valid set bits: the list is all zeros otherwise
    flagged: dict[str, list[tuple[int, str]]] = {}
    for authority, index, status in conn.execute(
        select(licences.c.authority, licences.c.status_index, licences.c.status).where(
            licences.c.status != "valid"
        )
    ):
        flagged.setdefault(str(authority), []).append((int(index), str(status)))
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def maker(authority: str, size: int) -> Maker:
        def make(checkpoint_size: int, index: int) -> bytes:
            conn.execute(
                status_lists.insert().values(
                    authority=authority,
                    checkpoint_size=checkpoint_size,
                    log_index=index,
                    size=size,
                )
            )
            return snapshot_entry(
                authority, size, flagged.get(authority, []), state_size, checkpoint_size, now
            )

        return make

    return [maker(a, n) for a, n in sorted(sizes.items()) if n > 0]
