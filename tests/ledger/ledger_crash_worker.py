"""Crash-test worker: appends and sequences forever, printing each acknowledged entry id.

Run as ``python ledger_crash_worker.py HUB_HOME``; the test kills it with SIGKILL at a random
moment. An id is printed only after its transaction committed, i.e. after it was acknowledged.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hub.settings import Settings
from ledger.service import LedgerService


def main() -> None:
    settings = Settings(home=Path(sys.argv[1]), key_passphrase="crash-test")
    svc = LedgerService.open(settings)
    n = 0
    while True:
        ids = svc.append_many([f"entry {n + i}".encode() for i in range(7)])
        n += 7
        sys.stdout.write("".join(f"{i}\n" for i in ids))
        sys.stdout.flush()
        if n % 3 == 0:
            svc.sequence()


if __name__ == "__main__":
    main()
