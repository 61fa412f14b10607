"""Report the state of the MinIO deployment's drives (no `mc` needed): each drive's state from the
admin info API, the erasure parity, how many drives may still be lost, and whether the cluster
has write quorum (``/minio/health/cluster``). Exit status 0 when every drive is ok, 1 otherwise.

Usage: python scripts/services/minio_drives.py ENDPOINT ACCESS_KEY SECRET_KEY
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from minio.credentials import StaticProvider
from minio.minioadmin import MinioAdmin

from storage.objects import drive_health, erasure_quorums

REPO = Path(__file__).resolve().parents[2]


def _where(path: str) -> str:
    p = Path(path)
    return str(p.relative_to(REPO)) if p.is_relative_to(REPO) else path


def report(info: dict[str, Any], write_quorum: bool) -> tuple[list[str], bool]:
    """The lines to print and whether every drive is ok."""
    drives = [d for server in info.get("servers", []) for d in server.get("drives", [])]
    backend = info.get("backend", {})
    parity = int(backend.get("standardSCParity") or 0)
    per_set = backend.get("totalDrivesPerSet") or [len(drives)]
    read_q, write_q = erasure_quorums(int(per_set[0]), parity)
    health = drive_health(info)
    ok = health.drives - health.offline - health.healing
    lines = [
        f"drives     {ok}/{health.drives} ok, EC:{parity} over {per_set[0]} per set "
        f"(reads need {read_q}, writes {write_q}); "
        f"{'writes accepted' if write_quorum else 'NO WRITE QUORUM: writes refused'}"
    ]
    for d in sorted(drives, key=lambda d: (d.get("set_index", 0), d.get("disk_index", 0))):
        state = str(d.get("state", "unknown")) + (" (healing)" if d.get("healing") else "")
        lines.append(f"  {state:<18} {_where(str(d.get('path') or d.get('endpoint')))}")
    return lines, not health.degraded


def main(argv: list[str]) -> int:
    """Command-line entry: ENDPOINT ACCESS_KEY SECRET_KEY."""
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    endpoint, access, secret = argv
    admin = MinioAdmin(endpoint=endpoint, credentials=StaticProvider(access, secret), secure=False)
    try:
        info = json.loads(admin.info())
    except Exception as exc:  # the status line says why, the caller goes on
        print(f"drives     unknown: the admin info API did not answer ({type(exc).__name__})")
        return 1
    try:
        with urllib.request.urlopen(f"http://{endpoint}/minio/health/cluster", timeout=5):
            write_quorum = True
    except (urllib.error.URLError, TimeoutError):
        write_quorum = False
    lines, all_ok = report(info, write_quorum)
    print("\n".join(lines))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
