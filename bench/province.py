"""Benchmark: the province at scale — N persons and N/10 entities generated, ingested on the
PostgreSQL tier, served by the API cluster, and licences issued and logged; the same at N/10 in
the same run, so that each stage's cost growth is visible.

    python -m bench.province                    # 10,000,000 persons, and 1,000,000
    python -m bench.province --persons 1000000  # 1,000,000 persons, and 100,000
    python -m bench.province --quick            # 100,000 persons, and 10,000

Stages, each with its time, rows/s, peak memory (the VmHWM of the process doing the work) and
disk (PostgreSQL's ``pg_database_size`` of the hub database, the object store's bytes, the
bytes of the services' log files):

- generate: a household register of persons (``ps_household``, GB18030 CSV) and an enterprise
  register of entities (``mr_enterprise``) written in chunks (memory stays bounded); row k of a
  run is a pure function of (k, seed), and each run takes the next free range of persons and
  entities, so every run's rows are new to the library (every ingest is a first load);
- ingest (the headline): land -> check -> quarantine -> merge -> publish
  (``bench.postgres.ingest_steps``, the pipeline's own steps), persons then entities, into an
  EMPTY library: a database created for the size on the tier's PostgreSQL (``CREATE
  DATABASE``; dropped after the delta) with an object store of its own (a folder), so each
  size is a first load like the other;
- delta (a detail): a 10 % delta of the size's persons (every 20th person with new address
  and household details, and as many new persons) ingested into that library, now holding
  the size: a load into a populated library, at both sizes alike;
- tier: the size's files ingested into the services tier's hub database and MinIO (which
  hold the earlier runs and sizes), for the serve stage; timed for the record;
- serve: the API cluster (HAProxy and its ``hub serve`` instances) answering
  ``GET /v1/persons/{id}`` (key, grant, purpose, rate limit, audit) for random subjects of the
  size's own persons at 16 connections: requests/s, p50, p99;
- issue: N/10 sealed licences issued and logged (stored, sequenced, receipts attached) on the
  licence bench's path (``bench.licence``: a hub home of its own), licences/s;
- prove: inclusion proofs at each log's final size (median µs over random leaves; both sizes'
  logs in interleaved rounds, each proof verified).

Targets: ingest time at N <= 11x that at N/10 (into an empty library; into a populated
one, the delta, too); API p99 at N within 1.5x of N/10; proof time at
N within 1.3x of N/10. Starts the services it needs (``scripts/services.sh up postgres minio
api``, with the caller's ``HUB_SERVICES_*`` ports) when they are not up. The machine may be
shared: the load average is printed with each size.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench._common import services_env

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ROOT / "var" / "services"
ENV_FILE = SERVICES / "env"
STATE_FILE = SERVICES / "bench-province.json"  # the next free person and entity of the tier
WORK = ROOT / ".cache" / "bench" / "province"
PERSONS = "ps_household"
ENTITIES = "mr_enterprise"
PURPOSE = "system-testing"
GRANTED = ["name", "sex", "birth_date"]
CHUNK = 50_000  # rows generated and written at a time
DIRT = 100  # one row in DIRT is dirty (its own kind of dirt: check character, date, missing)
SAMPLE = 50_000  # subjects the serve stage draws from
PROOFS = 2_000
DELTA_STEP = 20  # the delta file changes every 20th person and adds as many new ones (10 %)

# ---- the generator: row k of a run is a pure function of (k, seed) -------------------------

FIRST_BIRTH = dt.date(1935, 1, 1)
BIRTH_DAYS = 80 * 365
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉萍红兰飞鹏辉俊峰建国志文斌宇浩"
STREETS = ("淮河路", "长江路", "黄山路", "人民路", "和平路", "学院路", "胜利路", "解放路")
WORDS = ("科技", "建材", "煤业", "物流", "商贸", "食品", "电力", "信息", "农业", "医药")
MASK64 = (1 << 64) - 1


def counties() -> list[tuple[str, str]]:
    """(code, name) of Anhui's counties valid today (GB/T 2260), in code order."""
    from hub.synth import city_counties

    out: list[tuple[str, str]] = []
    for city in range(3401, 3419):
        try:
            out += city_counties(str(city))
        except ValueError:  # a prefecture code not (or no longer) in use
            continue
    return out


class Province:
    """Where person k and entity j of the benchmark live, what they are called, and which rows
    are dirty: pure functions, so a subject sampled later is the one the file holds."""

    def __init__(self, seed: int = 3400) -> None:
        self.seed = seed
        self.counties = counties()
        self.space = len(self.counties) * BIRTH_DAYS * 1000  # distinct IDs: county, day, seq
        self.mult = 1_000_000_007  # a prime: k -> k * mult mod space is a permutation
        assert math.gcd(self.mult, self.space) == 1
        self.days = [FIRST_BIRTH + dt.timedelta(days=d) for d in range(BIRTH_DAYS)]
        self.iso = [d.isoformat() for d in self.days]
        self.compact = [d.strftime("%Y%m%d") for d in self.days]

    def mix(self, k: int) -> int:
        """A well-spread 64-bit hash of k (splitmix64) under this seed."""
        z = (k * 0x9E3779B97F4A7C15 + self.seed) & MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def person_key(self, k: int) -> tuple[int, int, int]:
        """(county index, birth day index, sequence 0..999) of person k: distinct for each k."""
        p = (k * self.mult + self.seed) % self.space
        county, p = p % len(self.counties), p // len(self.counties)
        return county, p % BIRTH_DAYS, p // BIRTH_DAYS

    def person_id(self, k: int) -> str:
        from schemas import resident_id

        county, day, seq = self.person_key(k)
        body = f"{self.counties[county][0]}{self.compact[day]}{seq:03d}"
        return body + resident_id.check_character(body)

    def person_name(self, k: int) -> str:
        h = self.mix(k)
        given = GIVEN[(h >> 8) % len(GIVEN)]
        if h & 1:
            given += GIVEN[(h >> 20) % len(GIVEN)]
        return SURNAMES[(h >> 32) % len(SURNAMES)] + given

    def dirty(self, k: int) -> bool:
        return (self.mix(k) >> 40) % DIRT == 0

    def person(self, k: int, rng: random.Random, as_of: dt.date) -> dict[str, str]:
        county, day, seq = self.person_key(k)
        code, cname = self.counties[county]
        pid = self.person_id(k)
        born = self.days[day]
        adult = (as_of - born).days > 18 * 365
        updated = (as_of - dt.timedelta(days=rng.randrange(0, 365))).isoformat()
        row = {
            "id_number": pid,
            "name": self.person_name(k),
            "sex": "1" if seq % 2 else "2",
            "ethnic_group": "01" if rng.random() < 0.97 else rng.choice(("02", "03", "05")),
            "birth_date": self.iso[day],
            "household_division": code,
            "household_address": f"安徽省{cname}{rng.choice(STREETS)}{rng.randrange(1, 300)}号",
            "mobile": f"1{rng.choice('3456789')}{rng.randrange(0, 10**9):09d}" if adult else "",
            "marital_status": rng.choice(("20", "20", "20", "10", "40")) if adult else "10",
            "education": rng.choice(("20", "30", "60", "70", "90")),
            "family_size": str(rng.randrange(1, 7)),
            "updated_on": updated,
        }
        if self.dirty(k):
            kind = (self.mix(k) >> 48) % 3
            if kind == 0:  # a wrong check character
                row["id_number"] = pid[:-1] + ("0" if pid[-1] != "0" else "1")
            elif kind == 1:
                row["birth_date"] = f"{1950 + k % 60}-02-30"
            else:
                row["name"] = ""
        return row

    def entity(self, j: int, persons: range, rng: random.Random, as_of: dt.date) -> dict[str, str]:
        from schemas import uscc

        county, cname = self.counties[j % len(self.counties)]
        org = f"{(j * 1_000_003 + self.seed) % 10**8:08d}"  # distinct for j < 10**8
        body = f"91{county}{org}{uscc.org_code_check(org)}"
        rep = persons[(j * 7919) % len(persons)]
        return {
            "uscc": body + uscc.check_character(body),
            "entity_name": f"安徽省{cname}{rng.choice(WORDS)}{GIVEN[j % len(GIVEN)]}有限公司{j}",
            "legal_rep_name": self.person_name(rep),
            "legal_rep_id_number": self.person_id(rep),
            "registered_capital": f"{rng.randrange(1, 5000) * 10000}.00",
            "capital_currency": "CNY",
            "established_date": (
                as_of - dt.timedelta(days=rng.randrange(30, 30 * 365))
            ).isoformat(),
            "registered_address": f"安徽省{cname}{rng.choice(STREETS)}{rng.randrange(1, 300)}号",
            "registered_division": county,
            "registration_authority": f"{cname}市场监督管理局",
            "registration_status": "1",
            "industry": rng.choice("ACEFGIM"),
            "changed_on": (as_of - dt.timedelta(days=rng.randrange(0, 200))).isoformat(),
        }

    def clean_ids(self, persons: range, n: int, seed: int = 1) -> list[str]:
        """Up to ``n`` IDs of clean persons of the range (accepted by the ingest), random."""
        rng = random.Random(seed)
        picks = rng.sample(persons, n) if n < len(persons) else list(persons)
        return [self.person_id(k) for k in picks if not self.dirty(k)]


def write_rows(path: Path, dataset: str, rows: Iterator[dict[str, str]]) -> int:
    """Stream ``rows`` into ``dataset``'s CSV (its columns, delimiter and encoding; "auto" is
    written as GB18030, as ``pipeline.files.contract_file`` does); returns the rows written."""
    from schemas.contracts import load_contracts

    contract = load_contracts()[dataset]
    names = list(contract.column_names)
    encoding = {"auto": "gb18030"}.get(contract.encoding, contract.encoding)
    n = 0
    with path.open("w", encoding=encoding, newline="") as fh:
        out = csv.writer(fh, delimiter=contract.delimiter, lineterminator="\n")
        out.writerow(names)
        batch: list[list[str]] = []
        for row in rows:
            batch.append([row.get(c, "") for c in names])
            if len(batch) == CHUNK:
                out.writerows(batch)
                n += len(batch)
                batch = []
        out.writerows(batch)
        n += len(batch)
    return n


def generate(
    folder: Path, persons: range, entities: range, seed: int, as_of: dt.date
) -> dict[str, Path]:
    """The two files of a size: persons ``persons`` and entities ``entities`` (global indices);
    the same files for the same arguments."""
    province = Province(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def person_rows() -> Iterator[dict[str, str]]:
        for lo in range(persons.start, persons.stop, CHUNK):
            rng = random.Random(f"{seed}:p:{lo}")
            for k in range(lo, min(lo + CHUNK, persons.stop)):
                yield province.person(k, rng, as_of)

    def entity_rows() -> Iterator[dict[str, str]]:
        for lo in range(entities.start, entities.stop, CHUNK):
            rng = random.Random(f"{seed}:e:{lo}")
            for j in range(lo, min(lo + CHUNK, entities.stop)):
                yield province.entity(j, persons, rng, as_of)

    files = {PERSONS: folder / f"{PERSONS}.csv", ENTITIES: folder / f"{ENTITIES}.csv"}
    write_rows(files[PERSONS], PERSONS, person_rows())
    write_rows(files[ENTITIES], ENTITIES, entity_rows())
    return files


def generate_delta(
    folder: Path, persons: range, new: range, seed: int, as_of: dt.date
) -> dict[str, Path]:
    """A delta of a size's persons: every DELTA_STEP-th person of ``persons`` again with new
    address, contact and household details (as a later register extract has them), then the
    new persons ``new``; the same file for the same arguments."""
    province = Province(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def rows() -> Iterator[dict[str, str]]:
        changed = range(persons.start, persons.stop, DELTA_STEP)
        for lo in range(0, len(changed), CHUNK):
            rng = random.Random(f"{seed}:d:{changed[lo]}")
            for k in changed[lo : lo + CHUNK]:
                yield province.person(k, rng, as_of)
        for lo in range(new.start, new.stop, CHUNK):
            rng = random.Random(f"{seed}:p:{lo}")
            for k in range(lo, min(lo + CHUNK, new.stop)):
                yield province.person(k, rng, as_of)

    files = {PERSONS: folder / f"{PERSONS}.csv"}
    write_rows(files[PERSONS], PERSONS, rows())
    return files


# ---- the services tier ----------------------------------------------------------------------


def tier_env() -> dict[str, str]:
    """The ``export`` lines of var/services/env as a mapping."""
    return services_env(ENV_FILE)


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/v1/health/ready", timeout=5) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def ensure_services() -> dict[str, str]:
    """The tier's environment, once PostgreSQL, MinIO and the API cluster answer."""
    env = tier_env()
    url = env.get("HUB_API_CLUSTER_URL", "")
    if not (url and env.get("HUB_DATABASE_URL", "").startswith("postgresql") and _ready(url)):
        print("starting the services: scripts/services.sh up postgres minio api", flush=True)
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "services.sh"), "up", "postgres", "minio", "api"],
            check=True,
        )
        env = tier_env()
        url = env.get("HUB_API_CLUSTER_URL", "")
        if not (url and _ready(url)):
            raise SystemExit("the API cluster is not ready after scripts/services.sh up")
    return env


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def database_bytes(url: str) -> int:
    import psycopg

    with psycopg.connect(_libpq(url)) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(row[0]) if row else 0


def object_bytes(env: dict[str, str]) -> int:
    """Bytes of every object (every version) in every bucket of the tier's object store."""
    from minio import Minio

    client = Minio(
        env["HUB_MINIO_ENDPOINT"],
        access_key=env["HUB_MINIO_ACCESS_KEY"],
        secret_key=env["HUB_MINIO_SECRET_KEY"],
        secure=env.get("HUB_MINIO_SECURE", "false").lower() == "true",
    )
    total = 0
    for bucket in client.list_buckets():
        for obj in client.list_objects(bucket.name, recursive=True, include_version=True):
            total += int(obj.size or 0)
    return total


def log_bytes() -> int:
    logs = SERVICES / "logs"
    return sum(f.stat().st_size for f in logs.rglob("*") if f.is_file()) if logs.is_dir() else 0


def disk(env: dict[str, str]) -> dict[str, int]:
    return {
        "db": database_bytes(env["HUB_DATABASE_URL"]),
        "objects": object_bytes(env),
        "logs": log_bytes(),
    }


def grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {f"{k}_bytes": after[k] - before[k] for k in before}


def instance_peaks_mib() -> list[float]:
    """VmHWM of each API instance of the cluster (pid files of scripts/services.sh)."""
    out = []
    for pid_file in sorted((SERVICES / "run").glob("api[0-9]*.pid")):
        try:
            status = Path(f"/proc/{pid_file.read_text().strip()}/status").read_text()
        except (OSError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                out.append(round(int(line.split()[1]) / 1024, 1))
    return out


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def tier_cpu() -> dict[str, float]:
    """CPU seconds (user + system, all threads) the tier's servers have used so far: the API
    instances and HAProxy, PostgreSQL (the postmaster, its live processes and the ones it has
    reaped: a connection that ended still counts) and MinIO. Another tenant's work is not in
    it, unlike the machine-wide figure."""
    tick = os.sysconf("SC_CLK_TCK")
    run = SERVICES / "run"

    def own(pid: int | None, reaped: bool = False) -> float:
        if pid is None:
            return 0.0
        try:
            f = _stat(pid)
        except OSError:
            return 0.0
        return (int(f[11]) + int(f[12]) + (int(f[13]) + int(f[14]) if reaped else 0)) / tick

    api = sum(own(_pid(f)) for f in run.glob("api[0-9]*.pid")) + own(_pid(run / "haproxy.pid"))
    postmaster = _pid(SERVICES / "postgres" / "postmaster.pid")
    pg = own(postmaster, reaped=True)
    if postmaster is not None:
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    if int(_stat(proc.name)[1]) == postmaster:
                        pg += own(int(proc.name))
                except (OSError, ValueError, IndexError):
                    continue
    return {"api": api, "postgres": pg, "minio": own(_pid(run / "minio.pid"))}


def children_cpu() -> float:
    """CPU seconds of this process's finished children (the stage processes)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def next_ranges(persons: int, entities: int) -> tuple[range, range]:
    """The next free persons and entities of this tier (kept in var/services), taken."""
    state = {"person": 0, "entity": 0}
    if STATE_FILE.is_file():
        state.update(json.loads(STATE_FILE.read_text()))
    p = range(state["person"], state["person"] + persons)
    e = range(state["entity"], state["entity"] + entities)
    STATE_FILE.write_text(json.dumps({"person": p.stop, "entity": e.stop}))
    return p, e


# ---- children: each stage in its own process, so its peak memory is its own -----------------


def _child(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.province", "--child", *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"stage {args[0]} failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def child_generate(
    folder: str, p0: str, p1: str, e0: str, e1: str, seed: str, kind: str = "size"
) -> dict[str, Any]:
    """A size's two files, or (``kind`` "delta") the delta of persons p0..p1 with new
    persons e0..e1."""
    from bench._common import peak_rss_mb

    t = time.perf_counter()
    make = generate_delta if kind == "delta" else generate
    files = make(
        Path(folder), range(int(p0), int(p1)), range(int(e0), int(e1)), int(seed), dt.date.today()
    )
    return {
        "seconds": time.perf_counter() - t,
        "bytes": sum(f.stat().st_size for f in files.values()),
        "peak_mib": peak_rss_mb(),
    }


def child_ingest(folder: str, home: str, database_url: str, *datasets: str) -> dict[str, Any]:
    """The files of ``folder`` ingested, persons then entities (or ``datasets``)."""
    from bench._common import peak_rss_mb
    from bench.postgres import ingest_steps

    out: dict[str, Any] = {}
    for dataset in datasets or (PERSONS, ENTITIES):
        sub = Path(home) / dataset
        sub.mkdir(parents=True, exist_ok=True)
        r = ingest_steps(Path(folder) / f"{dataset}.csv", sub, database_url, dataset)
        out[dataset] = {k: r[k] for k in ("seconds", "steps", "rows", "accepted", "facts")}
    out["peak_mib"] = peak_rss_mb()
    return out


def child_loadgen(url: str, key: str, ids_file: str, seconds: str, conns: str) -> dict[str, Any]:
    import uvloop

    from bench import _http as httpkit

    port = int(url.rsplit(":", 1)[1])
    headers = f"Authorization: Bearer {key}\r\nX-Purpose: {PURPOSE}\r\n".encode()
    paths = [f"/v1/persons/{i}".encode() for i in Path(ids_file).read_text().split()]

    def request_of(rng: random.Random) -> bytes:
        return httpkit.get_request(paths[rng.randrange(len(paths))], headers)

    return dict(uvloop.run(httpkit.load(port, request_of, float(seconds), int(conns))))


def child_issue(home: str, n_text: str) -> dict[str, Any]:
    """``n`` business licences on the licence bench's path (the log's final size too)."""
    from bench._common import peak_rss_mb
    from bench.licence import AUTHORITY, BATCH, issue_all, synth_fields, synth_holders
    from hub.commands.licence import open_service
    from hub.settings import Settings
    from licence.issuance import Holder, IssueRequest
    from storage.library import LibraryStore
    from storage.library import engine_for as library_engine

    n = int(n_text)
    settings = Settings(home=Path(home), key_passphrase="bench")
    svc = open_service(settings)
    svc.ensure_ca()
    svc.create_seal(AUTHORITY)
    holders = synth_holders(min(n, 100_000))
    LibraryStore(library_engine(settings.db_url)).merge(
        "legal-entity",
        "bench",
        "samr.entities",
        dt.datetime.now(dt.UTC),
        [h for h, _ in holders],
        {"entity_name": [name for _, name in holders]},
    )
    batches = (
        [
            IssueRequest(
                "business_licence",
                AUTHORITY,
                Holder(*holders[i % len(holders)]),
                synth_fields(i),
            )
            for i in range(lo, min(n, lo + BATCH))
        ]
        for lo in range(0, n, BATCH)
    )
    seconds = issue_all(svc, batches, n)
    return {
        "seconds": seconds,
        "licences": n,
        "peak_mib": peak_rss_mb(),
        "log_size": svc.ledger.size(),
    }


def child_prove(rounds_text: str, *homes: str) -> dict[str, Any]:
    """Inclusion proofs at each log's final size, in interleaved rounds (the order rotating),
    so a change in how busy the shared machine is falls on every log alike; each proof is
    verified against the log's root."""
    from hub.settings import Settings
    from ledger.merkle import verify_inclusion
    from ledger.service import LedgerService

    logs = [LedgerService.open(Settings(home=Path(h), key_passphrase="bench")) for h in homes]
    sizes = [log.size() for log in logs]
    roots = [log.root(size) for log, size in zip(logs, sizes, strict=True)]
    times: list[list[float]] = [[] for _ in homes]
    rounds = int(rounds_text)
    rng = random.Random(7)
    for r in range(rounds):
        order = list(range(len(homes)))
        for k in order[r % len(order) :] + order[: r % len(order)]:
            log, size = logs[k], sizes[k]
            for i in [rng.randrange(size) for _ in range(PROOFS // rounds)]:
                t0 = time.perf_counter()
                leaf, path = log.prove(i, size)
                times[k].append(time.perf_counter() - t0)
                verify_inclusion(i, size, leaf, path, roots[k])  # raises unless it holds
    return {
        h: {
            "log_size": size,
            "median_us": round(statistics.median(t) * 1e6, 1),
            "p99_us": round(sorted(t)[int(len(t) * 0.99)] * 1e6, 1),
        }
        for h, size, t in zip(homes, sizes, times, strict=True)
    }


# ---- driver ---------------------------------------------------------------------------------


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def setup_client(env: dict[str, str]) -> str:
    """A fresh API client of the tier with a population grant and no practical rate limit."""
    from api.clients import ClientStore
    from storage.library import engine_for

    engine = engine_for(env["HUB_DATABASE_URL"])
    store = ClientStore(engine)
    cid = f"bench-province-{os.getpid()}-{time.time_ns() % 10**9}"
    key = store.add(cid, "benchmark province", rate_limit=1e9)
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    store.grant(cid, "population", PURPOSE, until, GRANTED)
    engine.dispose()
    return key


def ingest_figures(i: dict[str, Any], datasets: tuple[str, ...]) -> dict[str, Any]:
    """An ingest child's figures: time and rows/s in all, the persons' steps, peak memory."""
    p = i[PERSONS]
    secs = sum(i[d]["seconds"] for d in datasets)
    out: dict[str, Any] = {
        "seconds": round(secs, 2),
        "rows_per_s": round(sum(i[d]["rows"] for d in datasets) / secs),
        "persons_seconds": round(p["seconds"], 2),
        "persons_rows": p["rows"],
        "persons_rows_per_s": round(p["rows"] / p["seconds"]),
        "persons_accepted": p["accepted"],
        "persons_steps": {k: round(v, 2) for k, v in p["steps"].items()},
        "peak_mib": round(i["peak_mib"]),
    }
    if ENTITIES in datasets:
        out["entities_seconds"] = round(i[ENTITIES]["seconds"], 2)
        out["entities_accepted"] = i[ENTITIES]["accepted"]
    return out


def fresh_loads(
    env: dict[str, str], work: Path, persons: int, prange: range, new: range, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The size's files ingested into an empty library — a database created for it on the
    tier's PostgreSQL (``CREATE DATABASE``, the hub role may), with an object store of its
    own (a folder: nothing landed before) — then the size's delta (:func:`generate_delta`)
    into that library, now holding the size; the database is dropped at the end. Their
    figures: (empty, populated)."""
    from bench.postgres import create_database, drop_database, settle

    server = env["HUB_DATABASE_URL"]
    fresh = create_database(server, "bench_province")
    home = work / "fresh"
    try:
        print(f"[{persons:,}] ingest into an empty library (a fresh database)", flush=True)
        cpu0, own0 = tier_cpu(), children_cpu()
        i = _child("ingest", str(work / "files"), str(home), fresh, env=plain_env())
        own1, cpu1 = children_cpu(), tier_cpu()
        empty = {
            **ingest_figures(i, (PERSONS, ENTITIES)),
            "cpu_seconds": {
                "pipeline": round(own1 - own0, 2),
                "postgres": round(cpu1["postgres"] - cpu0["postgres"], 2),
            },
            "db_bytes": database_bytes(fresh),
            "objects_bytes": sum(folder_bytes(d) for d in home.glob("*/objects")),
        }
        print(
            f"[{persons:,}] delta of {len(prange) // DELTA_STEP + len(new):,} persons", flush=True
        )
        _child(
            "generate",
            str(work / "delta"),
            *map(str, (prange.start, prange.stop, new.start, new.stop, seed)),
            "delta",
            env=plain_env(),
        )
        settle(fresh)  # the load's autovacuum done and its pages flushed, at every size alike
        print(f"[{persons:,}] ingest the delta into the library of the size", flush=True)
        cpu0, own0 = tier_cpu(), children_cpu()
        d = _child("ingest", str(work / "delta"), str(home), fresh, PERSONS, env=plain_env())
        own1, cpu1 = children_cpu(), tier_cpu()
        populated = {
            **ingest_figures(d, (PERSONS,)),
            "changed": len(prange) // DELTA_STEP,
            "new": len(new),
            "library_subjects_before": empty["persons_accepted"],
            "cpu_seconds": {
                "pipeline": round(own1 - own0, 2),
                "postgres": round(cpu1["postgres"] - cpu0["postgres"], 2),
            },
        }
    finally:
        drop_database(server, fresh)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(work / "delta", ignore_errors=True)
    return empty, populated


def load_size(
    env: dict[str, str], persons: int, seed: int, work: Path, tier: bool = True
) -> dict[str, Any]:
    """Generate and ingest one size: into an empty library, its delta into the populated one
    (:func:`fresh_loads`), and (``tier``) into the tier's library for the serve stage, with a
    sample of its clean subjects written to ``work/ids.txt``; its figures."""
    entities = max(1, persons // 10)
    prange, erange = next_ranges(persons, entities)
    new, _ = next_ranges(persons // DELTA_STEP, 0)
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"persons": persons, "entities": entities}
    print(f"[{persons:,}] generate persons {prange.start:,}..{prange.stop - 1:,}", flush=True)
    own0 = children_cpu()
    g = _child(
        "generate",
        str(work / "files"),
        *map(str, (prange.start, prange.stop, erange.start, erange.stop, seed)),
        env=plain_env(),
    )
    out["generate"] = {
        "seconds": round(g["seconds"], 2),
        "rows_per_s": round((persons + entities) / g["seconds"]),
        "peak_mib": round(g["peak_mib"]),
        "cpu_seconds": round(children_cpu() - own0, 2),
        "file_bytes": g["bytes"],
    }
    out["ingest"], out["ingest_populated"] = fresh_loads(env, work, persons, prange, new, seed)
    if not tier:
        shutil.rmtree(work / "files")
        return out
    print(f"[{persons:,}] ingest into the tier's library (for the serve stage)", flush=True)
    before, cpu0, own0 = disk(env), tier_cpu(), children_cpu()
    i = _child(
        "ingest",
        str(work / "files"),
        str(work / "home"),
        env["HUB_DATABASE_URL"],
        env={**plain_env(), **env},
    )
    own1, cpu1, after = children_cpu(), tier_cpu(), disk(env)
    shutil.rmtree(work / "files")
    out["tier_ingest"] = {
        **ingest_figures(i, (PERSONS, ENTITIES)),
        "cpu_seconds": {
            "pipeline": round(own1 - own0, 2),
            **{k: round(cpu1[k] - cpu0[k], 2) for k in ("postgres", "minio")},
        },
        **grown(before, after),
        "db_total_bytes": after["db"],
    }
    (work / "ids.txt").write_text("\n".join(Province(seed).clean_ids(prange, SAMPLE)))
    return out


def plain_env() -> dict[str, str]:
    """This process's environment without ``HUB_*``: a child that is not on the tier gets the
    hub's defaults (a home of its own), whatever the caller sourced."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}


def serve_sizes(
    env: dict[str, str], works: dict[int, Path], seconds: float, conns: int, rounds: int
) -> dict[int, dict[str, Any]]:
    """Each size's subjects asked of the API cluster for ``seconds`` in all, in ``rounds``
    interleaved slices (the order rotating each round), so a change in how busy the shared
    machine is falls on every size alike."""
    from bench import _http as httpkit

    url, url_db = env["HUB_API_CLUSTER_URL"], env["HUB_DATABASE_URL"]
    key = setup_client(env)
    sizes = list(works)
    for n in sizes:  # warm-up: the instances' connections, caches and the client's grant
        _child("loadgen", url, key, str(works[n] / "ids.txt"), "3", str(conns), env=plain_env())
    acc: dict[int, dict[str, Any]] = {
        n: {"wall": 0.0, "lat": [], "codes": {}, "db": 0, "logs": 0, "api": 0.0, "pg": 0.0}
        for n in sizes
    }
    for r in range(rounds):
        for n in sizes[r % len(sizes) :] + sizes[: r % len(sizes)]:
            print(f"[{n:,}] serve through the API cluster (slice {r + 1}/{rounds})", flush=True)
            db0, logs0, cpu0 = database_bytes(url_db), log_bytes(), tier_cpu()
            got = _child(
                "loadgen",
                url,
                key,
                str(works[n] / "ids.txt"),
                str(seconds / rounds),
                str(conns),
                env=plain_env(),
            )
            cpu1 = tier_cpu()
            a = acc[n]
            a["api"] += cpu1["api"] - cpu0["api"]
            a["pg"] += cpu1["postgres"] - cpu0["postgres"]
            a["db"] += database_bytes(url_db) - db0
            a["logs"] += log_bytes() - logs0
            a["wall"] += got["wall"]
            a["lat"].extend(got["lat_us"])
            for code, count in got["codes"].items():
                a["codes"][code] = a["codes"].get(code, 0) + count
    peaks = instance_peaks_mib()
    return {
        n: {
            "seconds": seconds,
            "rounds": rounds,
            "connections": conns,
            **httpkit.latency_figures(a["lat"], a["wall"]),
            "non_200": sum(v for c, v in a["codes"].items() if c != "200"),
            # server CPU per answer: the instances with HAProxy, and PostgreSQL
            "api_cpu_ms": round(1000 * a["api"] / max(1, len(a["lat"])), 2),
            "postgres_cpu_ms": round(1000 * a["pg"] / max(1, len(a["lat"])), 2),
            "instance_peak_mib": peaks,
            "db_bytes": a["db"],
            "logs_bytes": a["logs"],
        }
        for n, a in acc.items()
    }


def issue_size(licences: int, home: Path) -> dict[str, Any]:
    """The issue figures of ``licences`` licences on the licence bench's path, into ``home``."""
    print(f"[{licences:,} licences] issue", flush=True)
    lg, own0 = log_bytes(), children_cpu()
    lic = _child("issue", str(home), str(licences), env=plain_env())
    own1 = children_cpu()
    return {
        "licences": licences,
        "seconds": round(lic["seconds"], 2),
        "licences_per_s": round(licences / lic["seconds"]),
        "peak_mib": round(lic["peak_mib"]),
        "cpu_seconds": round(own1 - own0, 2),
        "home_bytes": folder_bytes(home),
        "logs_bytes": log_bytes() - lg,
        "log_size": lic["log_size"],
    }


def run_sizes(
    env: dict[str, str],
    sizes: list[int],
    seconds: float,
    conns: int,
    rounds: int,
    seed: int,
    full: bool = True,
) -> list[dict[str, Any]]:
    """Every stage at each size: generate and ingest each, serve them interleaved, issue
    each, then prove on their logs interleaved; the figures of each size. Not ``full``: the
    generate and ingest stages only (the empty library and the delta)."""
    run = WORK / f"run-{os.getpid()}"
    works = {n: run / str(n) for n in sizes}
    try:
        figures = {n: load_size(env, n, seed, works[n], full) for n in sizes}
        if not full:
            for n in sizes:
                figures[n]["load_average_1min"] = round(os.getloadavg()[0], 2)
            return [figures[n] for n in sizes]
        served = serve_sizes(env, works, seconds, conns, rounds)
        for n in sizes:
            figures[n]["serve"] = served[n]
            figures[n]["issue"] = issue_size(max(1, n // 10), works[n] / "licences")
        print("proofs on each size's log, interleaved", flush=True)
        homes = [str(works[n] / "licences") for n in sizes]
        proved = _child("prove", str(rounds), *homes, env=plain_env())
        for n, home in zip(sizes, homes, strict=True):
            figures[n]["prove"] = proved[home]
            figures[n]["load_average_1min"] = round(os.getloadavg()[0], 2)
    finally:
        shutil.rmtree(run, ignore_errors=True)
    return [figures[n] for n in sizes]


def ratios(small: dict[str, Any], big: dict[str, Any]) -> dict[str, float]:
    """Big over small for the targets (and the other stages' times, for the record), of the
    stages the run measured."""
    figures = {
        "ingest_time": ("ingest", "seconds"),
        "ingest_populated_time": ("ingest_populated", "seconds"),
        "tier_ingest_time": ("tier_ingest", "seconds"),
        "api_p99": ("serve", "p99_ms"),
        "proof_time": ("prove", "median_us"),
        "generate_time": ("generate", "seconds"),
        "issue_time": ("issue", "seconds"),
    }
    out: dict[str, float] = {}
    for key, (stage, figure) in figures.items():
        if stage in big and stage in small:
            a, b = big[stage][figure], small[stage][figure]
            out[key] = round(a / b, 2) if b else float("nan")
    return out


TARGETS = {"ingest_time": 11.0, "ingest_populated_time": 11.0, "api_p99": 1.5, "proof_time": 1.3}


def verdicts(growth: dict[str, float]) -> dict[str, bool]:
    """PASS (True) or FAIL per target: the big size's figure within its bound of the small's."""
    return {k: growth[k] <= bound for k, bound in TARGETS.items() if k in growth}


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def headline(f: dict[str, Any]) -> dict[str, Any]:
    """A size's figures with its headline numbers first, flat (the benchmark table shows the
    flat ones; the stages' details follow as nested objects)."""
    return {
        "persons": f["persons"],
        "ingest_s": f["ingest"]["seconds"],
        "ingest_rows_per_s": f["ingest"]["rows_per_s"],
        "ingest_peak_mib": f["ingest"]["peak_mib"],
        "ingest_populated_s": f["ingest_populated"]["seconds"],
        "api_rps": f.get("serve", {}).get("rps"),
        "api_p99_ms": f.get("serve", {}).get("p99_ms"),
        "licences_per_s": f.get("issue", {}).get("licences_per_s"),
        "proof_median_us": f.get("prove", {}).get("median_us"),
        "load_average_1min": f["load_average_1min"],
        **f,
    }


def print_size(f: dict[str, Any]) -> None:
    g, i, d = f["generate"], f["ingest"], f["ingest_populated"]
    print(
        f"== {f['persons']:,} persons, {f['entities']:,} entities"
        + (f", {f['issue']['licences']:,} licences" if "issue" in f else "")
        + f" (load average {f['load_average_1min']})"
    )
    print(
        f"  generate {g['seconds']:8.1f} s {g['rows_per_s']:>9,} rows/s  peak {g['peak_mib']} MiB"
        f"  files {_mib(g['file_bytes'])}  CPU {g['cpu_seconds']} s"
    )
    print(
        f"  ingest   {i['seconds']:8.1f} s {i['rows_per_s']:>9,} rows/s  peak {i['peak_mib']} MiB"
        f"  into an empty library (a fresh database {_mib(i['db_bytes'])}, objects "
        f"{_mib(i['objects_bytes'])}); persons {i['persons_seconds']:.1f} s "
        f"({i['persons_rows_per_s']:,} rows/s; "
        + " ".join(f"{k} {v}" for k, v in i["persons_steps"].items())
        + f"), entities {i['entities_seconds']:.1f} s; CPU s "
        + ", ".join(f"{k} {v}" for k, v in i["cpu_seconds"].items())
    )
    print(
        f"  delta    {d['seconds']:8.1f} s {d['rows_per_s']:>9,} rows/s  peak {d['peak_mib']} MiB"
        f"  {d['changed']:,} changed + {d['new']:,} new persons into the library of "
        f"{d['library_subjects_before']:,} ("
        + " ".join(f"{k} {v}" for k, v in d["persons_steps"].items())
        + "); CPU s "
        + ", ".join(f"{k} {v}" for k, v in d["cpu_seconds"].items())
    )
    if "tier_ingest" not in f:
        return
    t, s, lic, pr = f["tier_ingest"], f["serve"], f["issue"], f["prove"]
    print(
        f"  tier     {t['seconds']:8.1f} s {t['rows_per_s']:>9,} rows/s  peak {t['peak_mib']} MiB"
        f"  into the tier's library (MinIO; for the serve stage): database "
        f"+{_mib(t['db_bytes'])} (now {_mib(t['db_total_bytes'])}), objects "
        f"+{_mib(t['objects_bytes'])}, logs +{_mib(t['logs_bytes'])}; persons ("
        + " ".join(f"{k} {v}" for k, v in t["persons_steps"].items())
        + ")"
    )
    print(
        f"  serve    {s['rps']:8.1f} req/s  p50 {s['p50_ms']:.2f} ms  p99 {s['p99_ms']:.2f} ms  "
        f"{s['requests']:,} requests, non-200 {s['non_200']}  instances' peak "
        f"{s['instance_peak_mib']} MiB  database +{_mib(s['db_bytes'])} (audit), logs "
        f"+{_mib(s['logs_bytes'])}; server CPU per answer: instances {s['api_cpu_ms']} ms, "
        f"PostgreSQL {s['postgres_cpu_ms']} ms"
    )
    print(
        f"  issue    {lic['seconds']:8.1f} s {lic['licences_per_s']:>9,} licences/s  peak "
        f"{lic['peak_mib']} MiB  hub home (ledger, licences) {_mib(lic['home_bytes'])}  "
        f"CPU {lic['cpu_seconds']} s"
    )
    print(
        f"  prove    median {pr['median_us']:.1f} µs, p99 {pr['p99_us']:.1f} µs "
        f"at {pr['log_size']:,} entries"
    )


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        kind, rest = sys.argv[2], sys.argv[3:]
        children: dict[str, Callable[..., dict[str, Any]]] = {
            "generate": child_generate,
            "ingest": child_ingest,
            "loadgen": child_loadgen,
            "issue": child_issue,
            "prove": child_prove,
        }
        print(json.dumps(children[kind](*rest)))
        return
    from bench._common import parse_args, report

    def extra(p: argparse.ArgumentParser) -> None:
        p.add_argument("--persons", type=int, default=None, help="N (default 10,000,000)")
        p.add_argument("--seconds", type=float, default=None, help="load per size (20; quick 5)")
        p.add_argument("--connections", type=int, default=16)
        p.add_argument("--rounds", type=int, default=4, help="interleaved serve slices")
        p.add_argument("--seed", type=int, default=3400)
        p.add_argument(
            "--ingest-only",
            action="store_true",
            help="generate and ingest (empty library, delta) only: no tier load, serve, issue",
        )

    args = parse_args(__doc__.splitlines()[0] if __doc__ else "", extra)
    big = args.persons or (100_000 if args.quick else 10_000_000)
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    env = ensure_services()
    start = time.perf_counter()
    small_f, big_f = run_sizes(
        env,
        [big // 10, big],
        seconds,
        args.connections,
        args.rounds,
        args.seed,
        full=not args.ingest_only,
    )
    print_size(small_f)
    print_size(big_f)
    growth = ratios(small_f, big_f)
    passed = verdicts(growth)
    for key, bound in TARGETS.items():
        if key not in growth:
            continue
        print(
            f"target {key.replace('_', ' ')} at {big:,} within {bound}x of {big // 10:,}: "
            f"{growth[key]}x {'PASS' if passed[key] else 'FAIL'}"
        )
    print(
        f"growth {big // 10:,} -> {big:,}: "
        + ", ".join(f"{k.replace('_', ' ')} {v}x" for k, v in growth.items())
        + f"; whole run {time.perf_counter() - start:.0f} s"
    )
    report(
        "province",
        {**headline(big_f), "growth": growth, "targets_met": passed},
        headline(small_f),
        growth["ingest_time"],
    )


if __name__ == "__main__":
    main()
