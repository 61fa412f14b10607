"""Fixtures for fault tests: small synthetic department files and private servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.synth import SynthResult, generate
from schemas.contracts import load_contracts
from tests.faults.private_servers import PrivateMinio, PrivatePostgres

# a first load (every subject new) and an update of known subjects (the precedence upsert)
DATASETS = ("ps_household", "hrss_insurance")


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    contracts = {ds: c for ds, c in load_contracts().items() if ds in DATASETS}
    return generate(
        tmp_path_factory.mktemp("fault-synth"),
        persons=400,
        entities=1,
        seed=11,
        dirt=0.02,
        contracts=contracts,
    )


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    pg = PrivatePostgres().init()
    try:
        pg.start()
        yield pg
    finally:
        pg.cleanup()


@pytest.fixture
def private_minio(tmp_path: Path) -> Iterator[PrivateMinio]:
    server = PrivateMinio(tmp_path / "minio")
    try:
        server.start()
        yield server
    finally:
        server.cleanup()
