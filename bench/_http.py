"""What the HTTP benchmarks share: a raw-socket load client (asyncio, HTTP/1.1 keep-alive, one
request in flight per connection), the server's CPU time per thread, free ports, readiness, and
the latency figures every HTTP benchmark prints.

The client writes prepared request bytes and reads each answer by its ``Content-Length``: no
HTTP library between the measurement and the socket, so the client costs little next to the
server it measures (it runs in its own process, on the same machine).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# a request's bytes, made per request (None: nothing more to send on this connection)
RequestOf = Callable[[random.Random], bytes | None]


def ids(n: int, seed: int = 3404) -> list[str]:
    """``n`` distinct valid resident IDs of Huainan's counties (sorted, the same for a seed)."""
    from schemas import resident_id

    rng = random.Random(seed)
    counties = ["340402", "340403", "340404", "340405", "340406", "340421", "340422"]
    out: set[str] = set()
    while len(out) < n:
        body = (
            f"{rng.choice(counties)}{rng.randint(1940, 2005)}{rng.randint(1, 12):02d}"
            f"{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
        )
        out.add(body + resident_id.check_character(body))
    return sorted(out)


def get_request(path: bytes, headers: bytes) -> bytes:
    """A keep-alive GET of ``path``; ``headers`` are ready ``Name: value\\r\\n`` lines."""
    return b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + b"\r\n"


def post_request(path: str, headers: dict[str, str], body: bytes) -> bytes:
    """A keep-alive POST of a JSON ``body`` to ``path``."""
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{head}\r\n"
    ).encode() + body


async def _connection(
    port: int,
    request_of: RequestOf,
    stop: float,
    lat: list[float],
    codes: dict[int, int],
    bodies: list[bytes] | None,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rng = random.Random()
    try:
        while time.perf_counter() < stop:
            raw = request_of(rng)
            if raw is None:
                break
            t0 = time.perf_counter()
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            codes[status] = codes.get(status, 0) + 1
            if bodies is not None and status == 201:
                bodies.append(body)
    finally:
        writer.close()


async def load(
    port: int,
    request_of: RequestOf,
    seconds: float,
    conns: int,
    bodies: list[bytes] | None = None,
) -> dict[str, Any]:
    """``conns`` connections sending ``request_of``'s requests for ``seconds``: the wall time,
    each answer's latency (µs) and the count of answers by status (``bodies`` collects the
    bodies of 201 answers when given)."""
    lat: list[float] = []
    codes: dict[int, int] = {}
    start = time.perf_counter()
    stop = start + seconds
    await asyncio.gather(
        *[_connection(port, request_of, stop, lat, codes, bodies) for _ in range(conns)]
    )
    return {
        "wall": time.perf_counter() - start,
        "lat_us": [round(1e6 * x) for x in lat],
        "codes": {str(k): v for k, v in codes.items()},
    }


def answered_other_than(result: dict[str, Any], ok: tuple[int, ...] = (200,)) -> int:
    """How many answers of a :func:`load` result had another status than ``ok``."""
    return sum(v for k, v in result["codes"].items() if int(k) not in ok)


def latency_figures(lat_us: list[int], wall: float) -> dict[str, float]:
    """Requests, requests/s and p50/p99 latency (ms) of one measured load."""
    lat = sorted(lat_us)
    return {
        "requests": len(lat),
        "rps": round(len(lat) / wall, 1) if wall else 0.0,
        "p50_ms": round(lat[len(lat) // 2] / 1000, 2) if lat else 0.0,
        "p99_ms": round(lat[int(len(lat) * 0.99)] / 1000, 2) if lat else 0.0,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(port: int, timeout: float = 60) -> None:
    """Wait until the API server on ``port`` answers its health check."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the API server did not come up on port {port}")


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system CPU time so far of a process's main thread (the event loop, which serves
    the requests) and of its other threads together (Linux /proc)."""
    main = others = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread has just ended
            continue
        seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        if task.name == str(pid):
            main += seconds
        else:
            others += seconds
    return main, others
