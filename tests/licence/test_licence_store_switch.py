"""A platform whose licence objects are not in the configured store refuses to mint a second CA."""

from __future__ import annotations

import shutil

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from hub.commands.licence import open_service
from hub.settings import Settings
from licence.ca import CertificateAuthorityError


def test_ca_keys_without_their_certificates_refuse_a_second_ca(settings: Settings) -> None:
    first = open_service(settings).ensure_ca()
    # the store is switched without copying the objects (here: the folder is emptied)
    shutil.rmtree(settings.objects_path)
    with pytest.raises(CertificateAuthorityError, match="copy the licence objects"):
        open_service(settings).ensure_ca()
    # nothing was minted: once the objects are back, the same CA is found
    svc = open_service(settings)
    svc.objects.put("ca/root.pem", first.root.public_bytes(Encoding.PEM))
    svc.objects.put("ca/seal-ca.pem", first.seal_ca.public_bytes(Encoding.PEM))
    assert svc.ensure_ca().root == first.root
