"""SQL tables of the hub's witness (C2SP tlog-witness): the logs it watches, the latest
checkpoint it cosigned for each, and the evidence of misbehaviour it was shown.

``witness_logs`` one row per log origin with the log's note verifier key; ``witness_state`` the
latest cosigned checkpoint per origin (size, root, the note as cosigned), updated only by a
compare-and-swap on the previous size and root so that two requests can never roll it back;
``witness_evidence`` what a witness refused that proves a log misbehaved (a second root for a
size it cosigned, a smaller tree than it cosigned, a proof that does not hold), kept with both
notes.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
)

metadata = MetaData()

logs = Table(
    "witness_logs",
    metadata,
    Column("origin", String(255), primary_key=True),
    Column("vkey", Text, nullable=False),
    Column("added_at", DateTime(timezone=True), server_default=func.current_timestamp()),
)
state = Table(
    "witness_state",
    metadata,
    Column("origin", String(255), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("note", LargeBinary, nullable=False),
    Column("cosigned_at", BigInteger, nullable=False),  # the cosignature's POSIX time
)
evidence = Table(
    "witness_evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(255), nullable=False, index=True),
    Column("kind", String(32), nullable=False),  # fork | rollback | inconsistent
    Column("size", BigInteger, nullable=False),
    Column("note", LargeBinary, nullable=False),  # what the log signed and sent
    Column("cosigned_note", LargeBinary, nullable=True),  # what the witness had cosigned
    Column("detail", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), server_default=func.current_timestamp()),
)


def create_tables(engine: Engine) -> None:
    metadata.create_all(engine)


# the log's side: the witnesses this hub's sequencer asks to cosign its checkpoints
peers = Table(
    "ledger_witnesses",
    metadata,
    Column("name", String(255), primary_key=True),  # the witness's key name
    Column("url", Text, nullable=False),  # its submission prefix (…/add-checkpoint is added)
    Column("vkey", Text, nullable=False),  # its cosignature/v1 verifier key
    Column("size", BigInteger, nullable=False, default=0),  # the size it last cosigned
    Column("cosigned_at", BigInteger, nullable=True),
    Column("last_error", Text, nullable=True),
)
