"""What the staff pages tests share: the seeded hub, the files handed over, screenshots.

(A uniquely named module, not ``conftest``: several test folders have a conftest.py.)
"""

from __future__ import annotations

import copy
import json
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.settings import PROJECT_ROOT, Settings

PASSWORD = "correct horse battery"
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
FONTS = PROJECT_ROOT / ".cache" / "fonts"  # the subset CJK font, shared with the licence tests


@dataclass
class Site:
    """A served, seeded hub and the files a member of staff would be handed."""

    url: str
    settings: Settings
    files: Path
    valid_id: str
    revoked_id: str
    qr_payload: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(settings: Settings) -> dict[str, Any]:
    from api.pages.accounts import StaffAccounts
    from hub.demo import HUAINAN_HR, issue_licences
    from hub.synth import generate
    from hub.wiring import ingest_services
    from licence.issuance import Holder
    from licence.pdf import qr_payload, render_pdf
    from licence.receipts import ledger_receipts
    from pipeline.run import run_pipeline
    from storage.library import engine_for

    # in process (the DAGs' own task functions): Airflow is not what these tests are about
    hub = ingest_services(settings)
    synth = generate(settings.home / "departments", city="3404", persons=300, entities=40, seed=1)
    for dataset, path in sorted(synth.files.items()):
        run_pipeline(hub, dataset, path.read_bytes(), path.name, fail_on_breach=False)
    svc, issued = issue_licences(settings, hub, 2)
    valid_id, revoked_id = issued[0], issued[1]
    svc.revoke(revoked_id, "FRAUD", "以欺骗手段取得许可")
    # a person's receipted qualification (the holder's pages present it; the demo's mix of 14
    # types may give the first persons other licences)
    person = svc.document(issued[2])["fields"]
    svc.issue(
        "professional_qualification",
        HUAINAN_HR,
        Holder(person["持证主体代码"]["value"], person["持证主体"]["value"]),
        {
            "occupation": "电工",
            "level": "四级/中级工",
            "certificate_number": "S3404000000998",
            "assessed_on": "2025-06-30",
        },
    )
    svc.ledger.sequence()
    svc.attach_receipts(ledger_receipts(svc.ledger))
    # issued after the last checkpoint: not yet in the ledger, so its verdict is INDETERMINATE
    pending = svc.issue(
        "professional_qualification",
        HUAINAN_HR,
        Holder(person["持证主体代码"]["value"], person["持证主体"]["value"]),
        {
            "occupation": "焊工",
            "level": "五级/初级工",
            "certificate_number": "S3404000000999",
            "assessed_on": "2025-06-30",
        },
    )
    files = settings.home / "handed"
    files.mkdir()
    (files / "valid.json").write_bytes(svc.raw(valid_id))
    tampered = copy.deepcopy(svc.document(valid_id))
    tampered["fields"]["legal_representative"]["value"] = "李四"
    (files / "tampered.json").write_text(json.dumps(tampered, ensure_ascii=False))
    (files / "revoked.json").write_bytes(svc.raw(revoked_id))
    (files / "truncated.json").write_bytes(svc.raw(valid_id)[:300])
    (files / "pending.json").write_text(json.dumps(pending, ensure_ascii=False))
    (files / "valid.pdf").write_bytes(render_pdf(svc, valid_id, FONTS))
    # a second delivery of the household extract, for a publisher to publish through the page
    again = generate(settings.home / "again", city="3404", persons=120, entities=10, seed=2)
    shutil.copy(again.files["ps_household"], files / "ps_household-2.csv")
    accounts = StaffAccounts(engine_for(settings.db_url))
    accounts.add("alice", "publisher", PASSWORD, "王丽 Alice")
    accounts.add("victor", "verifier", PASSWORD, "赵伟 Victor")
    return {
        "files": files,
        "valid_id": valid_id,
        "revoked_id": revoked_id,
        "qr": qr_payload(svc.document(valid_id), svc.verification_url),
    }


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        raise RuntimeError(
            "Debian's chromium is not installed: run `bash scripts/system-deps.sh` (make env)"
        )
    return path


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def staff_sign_in(client: Any, name: str, password: str) -> Any:
    """One staff sign-in through the form (its CSRF token first), as a browser posts it."""
    import re

    page = client.get("/login").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return client.post(
        "/login",
        data={"csrf_token": found.group(1), "username": name, "password": password},
        follow_redirects=False,
    )
