"""The MinIO adapter against a server that refuses (what an erasure set answers once it has lost
its write or read quorum): a clear, transient error at once, never a five-minute wait."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from storage.objects import MinioObjectStore, ObjectStoreUnavailableError

LOCATION = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">us-east-1'
    b"</LocationConstraint>"
)


def _error(code: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        "<Message>Resource requested is unwritable, please reduce your request rate</Message>"
        "<Resource>/hub/k</Resource><RequestId>1</RequestId><HostId>h</HostId></Error>"
    ).encode()


class Refusing(BaseHTTPRequestHandler):
    """An S3 endpoint whose bucket exists but whose objects are refused like MinIO does it
    (503 with ``Retry-After: 60``): writes with SlowDownWrite, reads with SlowDownRead, and
    HEAD of ``refused/...`` with a bare 503."""

    seen: ClassVar[list[str]] = []

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes = b"", xml: bool = False) -> None:
        self.send_response(status)
        if status == 503:
            self.send_header("Retry-After", "60")
        if xml:
            self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.seen.append(f"HEAD {self.path}")
        if self.path.rstrip("/") == "/hub":
            self._answer(200)
        elif self.path.startswith("/hub/refused/"):
            self._answer(503)
        else:
            self._answer(404)

    def do_GET(self) -> None:
        self.seen.append(f"GET {self.path}")
        if "location" in self.path:
            self._answer(200, LOCATION, xml=True)
        else:
            self._answer(503, _error("SlowDownRead"), xml=True)

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(f"PUT {self.path}")
        self._answer(503, _error("SlowDownWrite"), xml=True)


@pytest.fixture
def store() -> Iterator[MinioObjectStore]:
    Refusing.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield MinioObjectStore(f"127.0.0.1:{server.server_port}", "hub", "hub-secret-key")
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.timeout(120)  # obeying Retry-After: 60 would take five minutes per call
def test_a_refused_write_is_a_transient_error_naming_the_refusal(store: MinioObjectStore) -> None:
    with pytest.raises(ObjectStoreUnavailableError) as refused:
        store.put("work/run-1/rows.parquet", b"rows")
    assert "SlowDownWrite" in str(refused.value) and "HTTP 503" in str(refused.value)
    assert "unreachable" not in str(refused.value)  # the server answered: it said no
    assert Refusing.seen.count("PUT /hub/work/run-1/rows.parquet") == 3  # retried twice


@pytest.mark.timeout(120)
def test_a_refused_read_is_a_transient_error_naming_the_refusal(store: MinioObjectStore) -> None:
    with pytest.raises(ObjectStoreUnavailableError) as refused:
        store.get("work/run-1/rows.parquet")
    assert "SlowDownRead" in str(refused.value)


@pytest.mark.timeout(120)
def test_a_bare_503_to_a_lookup_is_a_transient_error(store: MinioObjectStore) -> None:
    # no S3 body to a HEAD: the SDK raises its own ServerError, which is ours here
    with pytest.raises(ObjectStoreUnavailableError) as refused:
        store.exists("refused/k")
    assert "503" in str(refused.value)


def test_drive_health_is_unknown_when_the_admin_api_refuses(store: MinioObjectStore) -> None:
    # a key without admin:ServerInfo, or a server that refuses: no report, and no exception
    # (readiness then says nothing about drives rather than failing the object store)
    assert store.drive_health() is None
    assert any(seen.startswith("GET /minio/admin/v3/info") for seen in Refusing.seen)
