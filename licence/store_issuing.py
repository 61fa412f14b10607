"""What issuing systems leave in the store: the authority each client is bound to,
Idempotency-Keys with their first answers, and the rows of bulk jobs already done.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    delete,
    insert,
    select,
    update,
)

from licence.tables import (
    bulk_rows,
    idempotency,
    issuing_clients,
)


class IssuingStore:
    """Issuing clients, idempotency keys and bulk jobs (a base of
    :class:`licence.store.LicenceStore`)."""

    engine: Engine

    # ---- issuing clients ----------------------------------------------------------------
    def bind_client(self, client_id: str, authority: str) -> None:
        """Bind an API client to the authority it issues for (rebinding replaces it)."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.engine.begin() as conn:
            conn.execute(delete(issuing_clients).where(issuing_clients.c.client_id == client_id))
            conn.execute(
                insert(issuing_clients).values(
                    client_id=client_id, authority=authority, created_at=now
                )
            )

    def client_authority(self, client_id: str) -> str | None:
        """The USCC of the authority an API client issues for, or None if it is not bound."""
        stmt = select(issuing_clients.c.authority).where(issuing_clients.c.client_id == client_id)
        with self.engine.connect() as conn:
            found = conn.execute(stmt).first()
        return None if found is None else str(found[0])

    def issuing_clients(self) -> list[tuple[str, str]]:
        """(client id, authority USCC) of every bound issuing client."""
        stmt = select(issuing_clients.c.client_id, issuing_clients.c.authority).order_by(
            issuing_clients.c.client_id
        )
        with self.engine.connect() as conn:
            return [(str(a), str(b)) for a, b in conn.execute(stmt)]

    # ---- idempotency keys ---------------------------------------------------------------
    def claim_key(
        self, client_id: str, key: str, digest: str, stale_after: float = 300.0
    ) -> dict[str, Any] | None:
        """Claim an Idempotency-Key for a request with this body digest: None when claimed
        (the caller goes on and records its answer with :meth:`answer_key`, or gives the claim
        back with :meth:`release_key`), else the row holding it (``state`` pending or done,
        its ``request_sha256``, ``http_status`` and ``answer``). A pending claim older than
        ``stale_after`` seconds (its process died before committing) is taken over."""
        from sqlalchemy.exc import IntegrityError

        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        cols = idempotency.c
        where = and_(cols.client_id == client_id, cols.key == key)
        for _ in range(3):
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        insert(idempotency).values(
                            client_id=client_id,
                            key=key,
                            request_sha256=digest,
                            state="pending",
                            created_at=now,
                        )
                    )
                return None
            except IntegrityError:
                pass
            with self.engine.begin() as conn:
                row = conn.execute(select(idempotency).where(where)).mappings().first()
                if row is None:
                    continue  # released meanwhile: claim again
                found = dict(row)
                old = now - dt.timedelta(seconds=stale_after)
                if (
                    found["state"] == "pending"
                    and found["request_sha256"] == digest
                    and found["created_at"] < old
                ):
                    taken = conn.execute(
                        update(idempotency)
                        .where(and_(where, cols.state == "pending", cols.created_at < old))
                        .values(created_at=now)
                    ).rowcount
                    if taken:
                        return None
                    continue
                return found
        raise RuntimeError(f"idempotency key of {client_id} keeps changing")

    def answer_key(
        self, client_id: str, key: str, status: int, answer: str, conn: Connection | None = None
    ) -> None:
        """Record the answer to a claimed key, in ``conn``'s transaction when given."""
        cols = idempotency.c
        stmt = (
            update(idempotency)
            .where(and_(cols.client_id == client_id, cols.key == key))
            .values(state="done", http_status=status, answer=answer)
        )
        if conn is not None:
            conn.execute(stmt)
            return
        with self.engine.begin() as c:
            c.execute(stmt)

    def release_key(self, client_id: str, key: str) -> None:
        """Give back a claim whose request was refused (nothing issued): the key is free."""
        cols = idempotency.c
        with self.engine.begin() as conn:
            conn.execute(
                delete(idempotency).where(
                    and_(cols.client_id == client_id, cols.key == key, cols.state == "pending")
                )
            )

    # ---- bulk issuance jobs ---------------------------------------------------------------
    def bulk_done(self, job_id: str) -> dict[str, tuple[str | None, str | None]]:
        """Row key -> (licence id, refusal) of the rows of a bulk job already done."""
        cols = bulk_rows.c
        stmt = select(cols.row_key, cols.licence_id, cols.refusal).where(cols.job_id == job_id)
        with self.engine.connect() as conn:
            return {str(k): (lid, why) for k, lid, why in conn.execute(stmt)}

    def record_bulk(
        self, conn: Connection, job_id: str, rows: list[tuple[str, str | None, str | None]]
    ) -> None:
        """Record (row key, licence id, refusal) of done rows in ``conn``'s transaction."""
        if rows:
            conn.execute(
                insert(bulk_rows),
                [
                    {"job_id": job_id, "row_key": k, "licence_id": lid, "refusal": why}
                    for k, lid, why in rows
                ],
            )
