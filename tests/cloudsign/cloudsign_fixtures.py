"""Helpers for the cloud-signature tests: a controllable clock and the holder's authenticator."""

from __future__ import annotations

import base64
import datetime as dt
import io
import time
from typing import Any
from urllib.parse import parse_qs, urlparse

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from licence.cloudsign import totp

PERSON_ID = "11010519491231002X"  # GB 11643 example number (valid check character)
OTHER_ID = "110105194912310037"
PIN = "246810"
PURPOSE = "electronic-signature"


def csc_client(api: Any, client_id: str = "gov-portal", grant: bool = True) -> dict[str, str]:
    """Register an API client (with a live ``cloudsign`` grant for PURPOSE unless ``grant`` is
    False) on the app ``api``; returns the headers it sends to the CSC API."""
    store = api.state.hub.clients
    key = store.add(client_id, client_id)
    if grant:
        until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        store.grant(client_id, "cloudsign", PURPOSE, until)
    return {"Authorization": f"Bearer {key}", "X-Purpose": PURPOSE}


class Clock:
    """Seconds since the epoch, moved by the test (SAD expiry, OTP time steps)."""

    def __init__(self, now: float | None = None) -> None:
        # starts at the real time: certificates it stamps must be valid for pyHanko's checks
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Authenticator:
    """What the holder's phone app does with the otpauth:// URI shown at enrolment."""

    def __init__(self, uri: str, clock: Clock) -> None:
        query = parse_qs(urlparse(uri).query)
        secret = query["secret"][0]
        self.key = base64.b32decode(secret + "=" * (-len(secret) % 8))
        self.clock = clock

    def code(self) -> str:
        """The current code; moves the clock one step on so the next code is fresh."""
        value = totp.totp(self.key, self.clock())
        self.clock.advance(30)
        return value


def blank_pdf() -> bytes:
    writer = PdfFileWriter()
    stream = generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 720 Td (Commitment letter) Tj ET")
    writer.insert_page(PageObject(contents=writer.add_object(stream), media_box=(0, 0, 595, 842)))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
