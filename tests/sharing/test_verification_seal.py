"""The platform's verification seal (claim receipts) is created once, whoever asks first: a hub
serve process that finds the key already stored uses the seal of the process that stored it,
and a key left without its seal is reported, never paired with another certificate."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from hub.settings import Settings
from licence.seals import SealError
from sharing.receipts import SEAL_KEY, ensure_verification_seal


class _LateStore:
    """The seal store as a second process saw it: before the first committed the seal's row."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.misses = 1

    def seal(self, seal_id: str) -> dict[str, Any] | None:
        if self.misses:
            self.misses -= 1
            return None
        return self.store.seal(seal_id)  # type: ignore[no-any-return]

    def add_seal(self, **row: Any) -> None:
        raise AssertionError("the second process recorded a seal of its own")


class _SecondProcess:
    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.store = _LateStore(svc.store)
        self.objects, self.keys, self.ledger = svc.objects, svc.keys, svc.ledger

    def ensure_ca(self) -> Any:
        return self.svc.ensure_ca()


def test_a_process_creating_the_seal_second_uses_the_first_ones(settings: Settings) -> None:
    from hub.wiring import licence_service

    svc = licence_service(settings)
    first = ensure_verification_seal(svc)
    second = ensure_verification_seal(_SecondProcess(svc))  # type: ignore[arg-type]
    assert second.certificate_pem == first.certificate_pem
    # what it signs verifies under the one certificate the receipts carry
    cert = x509.load_pem_x509_certificate(first.certificate_pem.encode())
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(second.signer.sign(b"header"), b"header", ec.ECDSA(hashes.SHA256()))


def test_a_seal_key_left_without_its_seal_is_reported(settings: Settings) -> None:
    from hub.wiring import licence_service

    svc = licence_service(settings)
    svc.keys.save(SEAL_KEY, ec.generate_private_key(ec.SECP256R1()))  # a creation died here
    with pytest.raises(SealError, match="never recorded"):
        ensure_verification_seal(svc, wait=0.2)
    assert svc.store.seal("11340000MB0000000MV001") is None
