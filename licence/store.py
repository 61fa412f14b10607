"""Licence store: index rows for seals and licences (SQLAlchemy Core, own tables).

The sealed documents themselves live write-once in the object store; these tables are the
index (status, version chain, status-list position, ledger entry id) that lifecycle commands
update. Opening the store brings the tables of a hub from before the current layout up to date.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    insert,
    inspect,
    select,
    text,
    update,
)

from licence import authorities as auth_registry
from schemas import licence_types
from storage.engine import make_engine

metadata = MetaData()

ENTRY_COLUMN = "ledger_entry_id"
# its name in hubs from before it was named for what it holds (renamed when the store opens)
_LEGACY_ENTRY_COLUMN = "ledger_index"

seals = Table(
    "licence_seals",
    metadata,
    Column("seal_id", String(40), primary_key=True),
    Column("authority", String(18), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("algorithm", String(32), nullable=False),
    Column("key_name", String(128), nullable=False),
    Column("cert_pem", Text, nullable=False),
    Column("picture_sha256", String(64), nullable=False),
    Column("valid_from", DateTime, nullable=False),
    Column("valid_to", DateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

licences = Table(
    "licences",
    metadata,
    Column("licence_id", String(120), primary_key=True),
    Column("type_code", String(21), nullable=False),
    Column("authority", String(18), nullable=False, index=True),
    Column("serial", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("holder_kind", String(8), nullable=False),
    Column("holder_id", String(18), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("reason_code", String(32)),
    Column("reason_text", Text),
    Column("issued_at", DateTime, nullable=False),
    Column("valid_to", String(10)),  # ISO date, or NULL for long-term validity
    Column("object_key", Text, nullable=False),
    Column("document_digest", String(64), nullable=False),
    Column("seal_id", String(40), nullable=False),
    Column("status_index", Integer, nullable=False),
    # the id of the licence's issue entry in the ledger (``ledger_entries.entry_id``), not its
    # position in the log: the log gives it an index only once it is sequenced
    Column(ENTRY_COLUMN, Integer),
    Column("receipt", Text),  # ledger receipt JSON, attached once the entry is sequenced
    Column("superseded_by", String(120)),
    Column("updated_at", DateTime, nullable=False),
)

# where each authority's status list snapshot is in the log, one row per checkpoint
status_lists = Table(
    "licence_status_lists",
    metadata,
    Column("authority", String(18), primary_key=True),
    Column("checkpoint_size", BigInteger, primary_key=True, autoincrement=False),
    Column("log_index", BigInteger, nullable=False),
    Column("size", Integer, nullable=False),
)

# issuing systems' client ids bound to the authority they issue for (``hub authority bind``)
issuing_clients = Table(
    "licence_issuing_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("authority", String(18), nullable=False, index=True),
    Column("created_at", DateTime, nullable=False),
)

# Idempotency-Key of issuing requests: the request's digest and the first answer, written in
# the transaction that commits the licences it issued (so a retry never issues twice)
idempotency = Table(
    "licence_idempotency",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_sha256", String(64), nullable=False),
    Column("state", String(8), nullable=False),  # pending | done
    Column("http_status", Integer),
    Column("answer", Text),
    Column("created_at", DateTime, nullable=False),
)

# rows of bulk issuance jobs (``hub licence issue-batch``) already done: issued (licence id) or
# refused (reason), written in the transaction that commits the licences, so a job resumed
# after a crash skips exactly the rows that were done
bulk_rows = Table(
    "licence_bulk_rows",
    metadata,
    Column("job_id", String(64), primary_key=True),
    Column("row_key", String(128), primary_key=True),
    Column("licence_id", String(120)),
    Column("refusal", Text),
)

# the hub's licence types: every version of each, as its YAML text (a change adds a version;
# a licence is drawn with the version in force when it was sealed)
type_versions = Table(
    "licence_type_versions",
    metadata,
    Column("code", String(21), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("stem", String(64), nullable=False),
    Column("yaml", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
)

# the hub's issuing authorities and the type codes each may issue (comma-separated)
authority_rows = Table(
    "licence_authorities",
    metadata,
    Column("uscc", String(18), primary_key=True),
    Column("name", Text, nullable=False),
    Column("division", String(6), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("may_issue", Text, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)
SEEDED_AT = dt.datetime(1970, 1, 1)  # the shipped types are in force for every licence

# what each licence was issued to, for governance: the holder's name and legal representative
# as on the licence (written with the licence; backfilled from the document for older ones)
basis_rows = Table(
    "licence_basis",
    metadata,
    Column("licence_id", String(120), primary_key=True),
    Column("holder_name", Text, nullable=False),
    Column("legal_rep", Text),
)

# governance runs (licence_governance DAG, `hub licence governance --run`) and their findings:
# one open finding per licence and kind, with the run that first and last found it
governance_runs = Table(
    "licence_governance_runs",
    metadata,
    Column("run_no", Integer, primary_key=True, autoincrement=True),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("checked", Integer),
    Column("found", Integer),
    Column("suspended", Integer),
)

findings = Table(
    "licence_findings",
    metadata,
    Column("finding_id", Integer, primary_key=True, autoincrement=True),
    Column("licence_id", String(120), nullable=False, index=True),
    Column("authority", String(18), nullable=False, index=True),
    Column("type_code", String(21), nullable=False),
    Column("holder_id", String(18), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("evidence", Text, nullable=False),  # JSON: field, values, dataset, library run
    Column("action", String(16), nullable=False),  # flagged | suspended
    Column("first_run", Integer, nullable=False),
    Column("last_run", Integer, nullable=False),
    Column("state", String(8), nullable=False),  # open | resolved
    Column("found_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),
)

counters = Table(
    "licence_counters",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Integer, nullable=False),
)


def _authority_values(a: auth_registry.Authority) -> dict[str, Any]:
    return {
        "uscc": a.uscc,
        "name": a.name,
        "division": a.division,
        "kind": a.kind,
        "may_issue": ",".join(a.may_issue),
        "updated_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
    }


def engine_for(db_url: str) -> Engine:
    """The hub database's engine (:func:`storage.engine.make_engine`: one per URL)."""
    return make_engine(db_url)


def _licence_columns(conn: Connection) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(licences.name)}


def upgrade(engine: Engine) -> None:
    """Bring the licence tables of a hub from before the current layout up to date: a no-op
    on a current hub (one read of the table's columns), else one transaction that changes
    nothing if it fails (on PostgreSQL under a lock, on SQLite under the write lock: hubs
    opened at once upgrade one after the other, and the second finds nothing to do).

    - ``licences.ledger_index`` is renamed ``ledger_entry_id``: it always held the issue
      entry's id, never its index in the log. The values are kept as they are.
    """
    with engine.connect() as conn:
        if _LEGACY_ENTRY_COLUMN not in _licence_columns(conn):
            return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('hub.licence:upgrade'))"))
        else:  # Python's sqlite3 would run the DDL outside the transaction
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        if _LEGACY_ENTRY_COLUMN not in _licence_columns(conn):
            return  # another process upgraded it meanwhile
        conn.execute(
            text(
                f"ALTER TABLE {licences.name} "
                f"RENAME COLUMN {_LEGACY_ENTRY_COLUMN} TO {ENTRY_COLUMN}"
            )
        )
        if ENTRY_COLUMN not in _licence_columns(conn):
            raise RuntimeError(f"{licences.name}: renaming {_LEGACY_ENTRY_COLUMN} failed")


class LicenceStore:
    """Index rows for seals and licences."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)
        upgrade(engine)
        self.seed()
        # licence types and authorities are read from here from now on in this process
        licence_types.use_registry(self.type_versions)
        auth_registry.use_registry(self.authorities)

    # ---- licence types and authorities ---------------------------------------------------
    def seed(self) -> None:
        """Add the shipped types and authorities this hub does not have yet (a new hub gets
        all of them; a stored one is never overwritten)."""
        from sqlalchemy.exc import IntegrityError

        types = licence_types.shipped()
        stems = {lt.code: stem for stem, lt in types.items() if not stem[0].isdigit()}
        shipped_auth = auth_registry.shipped()
        with self.engine.connect() as conn:
            have_types = set(conn.execute(select(type_versions.c.code).distinct()).scalars())
            have_auth = set(conn.execute(select(authority_rows.c.uscc)).scalars())
        new_types = [c for c in stems if c not in have_types]
        new_auth = [a for a in shipped_auth.values() if a.uscc not in have_auth]
        if not new_types and not new_auth:
            return
        folder = licence_types.CATALOGUE_DIR
        try:
            with self.engine.begin() as conn:
                for code in new_types:
                    text_ = (folder / f"{stems[code]}.yaml").read_text(encoding="utf-8")
                    conn.execute(
                        insert(type_versions).values(
                            code=code, version=1, stem=stems[code], yaml=text_, created_at=SEEDED_AT
                        )
                    )
                for a in new_auth:
                    conn.execute(insert(authority_rows).values(**_authority_values(a)))
        except IntegrityError:
            pass  # another process seeded meanwhile

    def type_versions(self) -> dict[str, list[licence_types.Version]]:
        """Every version of every type, oldest first, by type code."""
        cols = type_versions.c
        stmt = select(cols.code, cols.stem, cols.yaml, cols.created_at).order_by(
            cols.code, cols.version
        )
        out: dict[str, list[licence_types.Version]] = {}
        with self.engine.connect() as conn:
            for code, stem, yaml_text, since in conn.execute(stmt):
                lt = licence_types.parse_text(yaml_text, f"{stem}.yaml")
                out.setdefault(str(code), []).append(licence_types.Version(stem, since, lt))
        return out

    def add_type(self, yaml_text: str, stem: str) -> int:
        """Add a licence type, or a new version of one (same code and name); returns its
        version number (0 when the text is the current version's). Licences already issued
        keep the version they were sealed under."""
        import re

        if not re.fullmatch(r"[a-z][a-z0-9_]{1,63}", stem):
            raise licence_types.LicenceTypeError(
                f"catalogue name {stem!r}: lower case letters, digits and _ (the file's name)"
            )
        lt = licence_types.parse_text(yaml_text, f"{stem}.yaml")
        cols = type_versions.c
        # to the second, as licences are sealed: one sealed from this second on uses it
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(cols.version, cols.stem, cols.yaml)
                .where(cols.code == lt.code)
                .order_by(cols.version.desc())
            ).all()
            other = conn.execute(
                select(cols.code).where(and_(cols.stem == stem, cols.code != lt.code)).limit(1)
            ).first()
            if other is not None:
                raise licence_types.LicenceTypeError(
                    f"catalogue name {stem!r} is type {other[0]}; name the file after the type"
                )
            if rows:
                version, old_stem, old_text = rows[0]
                if old_stem != stem:
                    raise licence_types.LicenceTypeError(
                        f"type {lt.code} is {old_stem!r}: name the file {old_stem}.yaml"
                    )
                old = licence_types.parse_text(old_text, f"{stem}.yaml")
                if old.holder_kind != lt.holder_kind:
                    raise licence_types.LicenceTypeError(
                        f"type {lt.code} is held by {old.holder_kind}: its holder kind cannot "
                        "change (define a new type code instead)"
                    )
                if old == lt:
                    return 0
            version = (rows[0][0] if rows else 0) + 1
            conn.execute(
                insert(type_versions).values(
                    code=lt.code, version=version, stem=stem, yaml=yaml_text, created_at=now
                )
            )
        licence_types.refresh()
        return int(version)

    def authorities(self) -> dict[str, auth_registry.Authority]:
        """The hub's issuing authorities by USCC."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(authority_rows).order_by(authority_rows.c.uscc)).all()
        out = {}
        for r in rows:
            codes = tuple(c for c in r.may_issue.split(",") if c)
            out[r.uscc] = auth_registry.Authority(r.uscc, r.name, r.division, r.kind, codes)
        return out

    def add_authority(self, auth: auth_registry.Authority) -> None:
        """Register an issuing authority (its USCC and every type checked first)."""
        from sqlalchemy.exc import IntegrityError

        checked = auth_registry._row(
            {
                "uscc": auth.uscc,
                "name": auth.name,
                "division": auth.division,
                "kind": auth.kind,
                "may_issue": list(auth.may_issue),
            },
            "authority",
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(authority_rows).values(**_authority_values(checked)))
        except IntegrityError:
            raise auth_registry.AuthorityError(
                f"authority {checked.uscc} is registered already (`hub authority list`)"
            ) from None
        auth_registry.refresh()

    def grant_type(self, uscc: str, type_name: str) -> auth_registry.Authority:
        """Let an authority issue one more licence type; the type must list the authority's
        kind among its issuer kinds."""
        lt = licence_types.get(type_name)
        with self.engine.begin() as conn:
            row = conn.execute(select(authority_rows).where(authority_rows.c.uscc == uscc)).first()
            if row is None:
                raise auth_registry.AuthorityError(f"authority {uscc} is not registered")
            if row.kind not in lt.issuer_kinds:
                raise auth_registry.AuthorityError(
                    f"{lt.name} is issued by {', '.join(lt.issuer_kinds)}, not by {row.kind}: "
                    "add the kind to the type's issuer_kinds (`hub licence types add`) first"
                )
            codes = [c for c in row.may_issue.split(",") if c]
            if lt.code not in codes:
                codes.append(lt.code)
            conn.execute(
                update(authority_rows)
                .where(authority_rows.c.uscc == uscc)
                .values(
                    may_issue=",".join(codes),
                    updated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                )
            )
        auth_registry.refresh()
        return auth_registry.Authority(row.uscc, row.name, row.division, row.kind, tuple(codes))

    # ---- counters: serial numbers and status-list positions ----------------------------
    def next_value(self, name: str, conn: Any, count: int = 1) -> int:
        """Reserve ``count`` consecutive values of a counter; returns the first (from 0)."""
        row = conn.execute(select(counters.c.value).where(counters.c.name == name)).first()
        if row is None:
            conn.execute(insert(counters).values(name=name, value=count))
            return 0
        conn.execute(update(counters).where(counters.c.name == name).values(value=row[0] + count))
        return int(row[0])

    # ---- seals ------------------------------------------------------------------------
    def add_seal(self, **row: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(seals).values(**row))

    def seal(self, seal_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = conn.execute(select(seals).where(seals.c.seal_id == seal_id)).mappings().first()
        return dict(r) if r else None

    def seals(self, authority: str | None = None) -> list[dict[str, Any]]:
        stmt = select(seals).order_by(seals.c.authority, seals.c.seal_id)
        if authority:
            stmt = stmt.where(seals.c.authority == authority)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def active_seal(self, authority: str, at: dt.datetime) -> dict[str, Any] | None:
        naive = at.astimezone(dt.UTC).replace(tzinfo=None)
        stmt = (
            select(seals)
            .where(
                and_(
                    seals.c.authority == authority,
                    seals.c.status == "active",
                    seals.c.valid_from <= naive,
                    seals.c.valid_to > naive,
                )
            )
            .order_by(seals.c.created_at.desc())
        )
        with self.engine.connect() as conn:
            r = conn.execute(stmt).mappings().first()
        return dict(r) if r else None

    def set_seal_status(self, seal_id: str, status: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(seals).where(seals.c.seal_id == seal_id).values(status=status))

    # ---- licences ---------------------------------------------------------------------
    def licence(self, licence_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            r = (
                conn.execute(select(licences).where(licences.c.licence_id == licence_id))
                .mappings()
                .first()
            )
        return dict(r) if r else None

    def licences(self, authority: str | None = None) -> list[dict[str, Any]]:
        stmt = select(licences).order_by(licences.c.issued_at)
        if authority:
            stmt = stmt.where(licences.c.authority == authority)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def add_licences(self, rows: list[dict[str, Any]], conn: Connection | None = None) -> None:
        """Insert index rows, in ``conn``'s transaction when given (with their log entries)."""
        if conn is not None:
            conn.execute(insert(licences), rows)
            return
        with self.engine.begin() as c:
            c.execute(insert(licences), rows)

    def set_entry_ids(self, entry_ids: list[tuple[str, int]]) -> None:
        """Record (licence id, ledger entry id) of licences whose issue entries were logged."""
        stmt = (
            update(licences)
            .where(licences.c.licence_id == bindparam("lid"))
            .values({ENTRY_COLUMN: bindparam("entry")})
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, [{"lid": lid, "entry": e} for lid, e in entry_ids])

    def attach_receipts(self, receipts: list[tuple[str, str]]) -> None:
        """Store (licence id, receipt JSON) pairs, in one transaction."""
        stmt = (
            update(licences)
            .where(licences.c.licence_id == bindparam("lid"))
            .values(receipt=bindparam("receipt"))
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, [{"lid": lid, "receipt": r} for lid, r in receipts])

    def update_licence(self, licence_id: str, conn: Any = None, **values: Any) -> None:
        stmt = update(licences).where(licences.c.licence_id == licence_id).values(**values)
        if conn is not None:
            conn.execute(stmt)
            return
        with self.engine.begin() as c:
            c.execute(stmt)

    def no_longer_valid(self) -> list[dict[str, Any]]:
        """Status, reason, time, authority and successor of every licence not valid now."""
        cols = licences.c
        stmt = select(
            cols.licence_id,
            cols.status,
            cols.reason_code,
            cols.reason_text,
            cols.updated_at,
            cols.authority,
            cols.superseded_by,
        ).where(cols.status != "valid")
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def statuses(self, authority: str) -> list[tuple[int, str]]:
        """(status-list index, status) of every licence of one authority."""
        stmt = select(licences.c.status_index, licences.c.status).where(
            licences.c.authority == authority
        )
        with self.engine.connect() as conn:
            return [(int(i), str(s)) for i, s in conn.execute(stmt)]

    def due_for_expiry(self, today: dt.date) -> list[str]:
        stmt = select(licences.c.licence_id).where(
            and_(
                licences.c.status.in_(("valid", "suspended")),
                licences.c.valid_to.is_not(None),
                licences.c.valid_to < today.isoformat(),
            )
        )
        with self.engine.connect() as conn:
            return [str(r[0]) for r in conn.execute(stmt)]

    def status_list_at(
        self, authority: str, checkpoint_size: int | None = None
    ) -> tuple[int, int] | None:
        """(checkpoint size, log index) of the authority's status list committed with the
        checkpoint of ``checkpoint_size`` (default: the latest one); None if there is none."""
        cols = status_lists.c
        stmt = select(cols.checkpoint_size, cols.log_index).where(cols.authority == authority)
        if checkpoint_size is not None:
            stmt = stmt.where(cols.checkpoint_size == checkpoint_size)
        stmt = stmt.order_by(cols.checkpoint_size.desc()).limit(1)
        with self.engine.connect() as conn:
            found = conn.execute(stmt).first()
        return None if found is None else (int(found[0]), int(found[1]))

    def unreceipted(self) -> list[tuple[str, int]]:
        """(licence id, ledger entry id) of every logged licence without its receipt yet."""
        entry = licences.c[ENTRY_COLUMN]
        stmt = select(licences.c.licence_id, entry).where(
            and_(licences.c.receipt.is_(None), entry.is_not(None))
        )
        with self.engine.connect() as conn:
            return [(str(a), int(b)) for a, b in conn.execute(stmt)]

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

    def holders_with(self, type_code: str) -> set[str]:
        """Holders with a valid or suspended licence of this type."""
        cols = licences.c
        stmt = select(cols.holder_id).where(
            and_(cols.type_code == type_code, cols.status.in_(("valid", "suspended")))
        )
        with self.engine.connect() as conn:
            return {str(h) for (h,) in conn.execute(stmt)}

    # ---- governance -----------------------------------------------------------------------
    def add_basis(self, rows: list[dict[str, Any]], conn: Connection | None = None) -> None:
        """Record what licences were issued to (with them, in ``conn``'s transaction)."""
        if not rows:
            return
        if conn is not None:
            conn.execute(insert(basis_rows), rows)
            return
        with self.engine.begin() as c:
            c.execute(insert(basis_rows), rows)

    def valid_for_governance(
        self, authority: str | None = None
    ) -> list[tuple[str, str, str, str, str, str | None, str | None]]:
        """(licence id, authority, type code, holder kind, holder id, name on it, legal
        representative on it) of every valid licence; the last two None without a basis."""
        cols = licences.c
        stmt = (
            select(
                cols.licence_id,
                cols.authority,
                cols.type_code,
                cols.holder_kind,
                cols.holder_id,
                basis_rows.c.holder_name,
                basis_rows.c.legal_rep,
            )
            .select_from(licences.outerjoin(basis_rows, basis_rows.c.licence_id == cols.licence_id))
            .where(cols.status == "valid")
            .order_by(cols.licence_id)
        )
        if authority:
            stmt = stmt.where(cols.authority == authority)
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(stmt)]

    def start_governance_run(self) -> int:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.engine.begin() as conn:
            key = conn.execute(insert(governance_runs).values(started_at=now)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def finish_governance_run(self, run_no: int, checked: int, found: int, suspended: int) -> None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.engine.begin() as conn:
            conn.execute(
                update(governance_runs)
                .where(governance_runs.c.run_no == run_no)
                .values(finished_at=now, checked=checked, found=found, suspended=suspended)
            )

    def open_findings(self, authority: str | None = None) -> list[dict[str, Any]]:
        """The open findings (of one authority), oldest first."""
        stmt = select(findings).where(findings.c.state == "open").order_by(findings.c.finding_id)
        if authority:
            stmt = stmt.where(findings.c.authority == authority)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings()]

    def record_findings(
        self,
        run_no: int,
        found: list[dict[str, Any]],
        checked: set[str],
    ) -> list[dict[str, Any]]:
        """Store a run's findings: a finding already open (same licence and kind) is marked
        seen by this run, a new one is added; an open finding of a checked licence that this
        run did not find again is resolved. Returns the new findings."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        cols = findings.c
        found_keys = {(f["licence_id"], f["kind"]) for f in found}
        with self.engine.begin() as conn:
            open_rows = {
                (r.licence_id, r.kind): r.finding_id
                for r in conn.execute(
                    select(cols.finding_id, cols.licence_id, cols.kind).where(cols.state == "open")
                )
            }
            new = [f for f in found if (f["licence_id"], f["kind"]) not in open_rows]
            seen = [fid for key, fid in open_rows.items() if key in found_keys]
            stale = [
                fid for key, fid in open_rows.items() if key not in found_keys and key[0] in checked
            ]
            for ids, values in (
                (seen, {"last_run": run_no}),
                (stale, {"state": "resolved", "resolved_at": now, "last_run": run_no}),
            ):
                for lo in range(0, len(ids), 500):
                    conn.execute(
                        update(findings)
                        .where(cols.finding_id.in_(ids[lo : lo + 500]))
                        .values(**values)
                    )
            if new:
                conn.execute(
                    insert(findings),
                    [
                        {
                            **f,
                            "first_run": run_no,
                            "last_run": run_no,
                            "state": "open",
                            "found_at": now,
                        }
                        for f in new
                    ],
                )
        return new

    def set_finding_action(self, licence_id: str, kind: str, action: str) -> None:
        cols = findings.c
        with self.engine.begin() as conn:
            conn.execute(
                update(findings)
                .where(and_(cols.licence_id == licence_id, cols.kind == kind, cols.state == "open"))
                .values(action=action)
            )
