"""Long-term validation services of the platform CA: an RFC 3161 time-stamping authority, an
RFC 6960 OCSP responder and CRLs (RFC 5280), served over HTTP.

A small service of ours on ``cryptography`` and asn1crypto rather than certomancer: the
responses must speak for the platform's own CA and its seals as registered (a revoked seal is
revoked in OCSP and the CRL at once, from the licence store), with the CA keys kept in the
encrypted key store; certomancer animates a PKI declared in its own YAML with keys of its own,
and is not installed (pyHanko's ``DummyTimeStamper`` is RSA-only, with a testing policy OID).

- The TSA's key (ECDSA P-256) is certified by the platform root for ``timeStamping`` only
  (critical extended key usage); its tokens carry ``TSA_POLICY_OID``, the request's nonce and
  the ESS signing-certificate-v2 attribute.
- OCSP answers for certificates the seal CA issued and, when the cloud signature's personal
  signing CA exists, for the people's certificates it issued, each signed by the issuing CA
  itself (so no responder certificate needs checking): ``good`` or ``revoked`` (with the
  time, and ``certificateHold`` for a suspended seal); a certificate neither issued gets
  "unauthorized". What each CA issued and how it stands: :mod:`licence.ltv_registry`.
- CRLs: the seal CA's (revoked and suspended seals' certificates), the signing CA's (revoked
  credentials' certificates) and the root's (its intermediates).
- Certificates name these services when ``HUB_LTV_URL`` is set (``seal_revocation_urls``,
  ``person_revocation_urls``, ``root_crl_url``).

Requests are bounded (``MAX_REQUEST`` bytes); anything unreadable gets the protocol's own error
status, never a traceback.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from licence.ltv_registry import Issued as Issued
from licence.ltv_registry import Registry as Registry
from licence.ltv_registry import person_registry as person_registry
from licence.ltv_registry import seal_standing as seal_standing

TSA_KEY = "platform-tsa"
TSA_OBJECT = "ca/tsa.pem"
# private arc (as SEAL_PICTURE_OID): the platform TSA's policy, to be registered before production
TSA_POLICY_OID = "1.3.6.1.4.1.61810.1.2"
MAX_REQUEST = 16 * 1024
UPDATE_EVERY = dt.timedelta(hours=24)  # nextUpdate of OCSP answers and CRLs
DIGESTS: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


class LtvError(ValueError):
    """A request the services cannot answer (malformed, unsupported)."""


def tsa_certificate(
    root: x509.Certificate,
    root_key: ec.EllipticCurvePrivateKey,
    tsa_key: ec.EllipticCurvePublicKey,
    now: dt.datetime,
    years: int = 10,
    crl_url: str | None = None,
) -> x509.Certificate:
    """The TSA's certificate under the platform root: timeStamping only (critical EKU); with
    ``crl_url``, where the root's CRL is (so a validator can check it is not revoked)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "省级电子证照共享平台"),
            x509.NameAttribute(NameOID.COMMON_NAME, "平台时间戳服务 Platform TSA"),
        ]
    )
    builder = x509.CertificateBuilder()
    if crl_url is not None:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return (
        builder.subject_name(subject)
        .issuer_name(root.subject)
        .public_key(tsa_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(min(now + dt.timedelta(days=365 * years), root.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                root.public_key()  # type: ignore[arg-type]
            ),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass
class Authority:
    """What the services sign with and answer about (keys in memory only while serving)."""

    root: x509.Certificate
    root_key: ec.EllipticCurvePrivateKey
    seal_ca: x509.Certificate
    seal_ca_key: ec.EllipticCurvePrivateKey
    tsa: x509.Certificate
    tsa_key: ec.EllipticCurvePrivateKey
    # serial -> (certificate, revoked at or None), for certificates the seal CA issued
    seal_certificates: Callable[[], Registry]
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    # the personal signing CA of the cloud signature and its people's certificates (optional)
    sign_ca: x509.Certificate | None = None
    sign_ca_key: ec.EllipticCurvePrivateKey | None = None
    person_certificates: Callable[[], Registry] = dict

    def issuers(
        self,
    ) -> dict[str, tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Callable[[], Registry]]]:
        """The issuing CAs the services answer for: name -> (certificate, key, what it issued;
        read when asked)."""
        out = {"seal-ca": (self.seal_ca, self.seal_ca_key, self.seal_certificates)}
        if self.sign_ca is not None and self.sign_ca_key is not None:
            out["sign-ca"] = (self.sign_ca, self.sign_ca_key, self.person_certificates)
        return out

    # ---- RFC 3161 ------------------------------------------------------------------------
    def timestamp(self, body: bytes) -> bytes:
        """A TimeStampResp for a DER TimeStampReq (status ``rejection`` when unreadable)."""
        try:
            req = tsp.TimeStampReq.load(body, strict=True)
            imprint = req["message_imprint"]
            algorithm = imprint["hash_algorithm"]["algorithm"].native
            digest = bytes(imprint["hashed_message"].native)
            if algorithm not in DIGESTS or len(digest) != DIGESTS[algorithm].digest_size:
                raise LtvError(f"unsupported or malformed message imprint ({algorithm})")
            nonce = req["nonce"].native
        except (ValueError, TypeError, KeyError, LtvError) as exc:
            failure = tsp.PKIStatusInfo(
                {
                    "status": "rejection",
                    "status_string": [f"bad request: {exc}"[:200]],
                    "fail_info": tsp.PKIFailureInfo({"bad_request"}),
                }
            )
            # TimeStampResp without its (optional) token: asn1crypto declares it mandatory
            return bytes(core.Sequence(contents=failure.dump()).dump())
        now = self.clock().replace(microsecond=0)
        info: dict[str, Any] = {
            "version": "v1",
            "policy": TSA_POLICY_OID,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(120),
            "gen_time": now,
            "tsa": asn1_x509.GeneralName(
                name="directory_name", value=asn1_x509.Certificate.load(_der(self.tsa)).subject
            ),
        }
        if nonce is not None:
            info["nonce"] = nonce
        tst = tsp.TSTInfo(info).dump()
        token = self._signed_data("tst_info", tst, now)
        granted = tsp.PKIStatusInfo({"status": "granted"})
        return bytes(tsp.TimeStampResp({"status": granted, "time_stamp_token": token}).dump())

    def _signed_data(self, content_type: str, content: bytes, now: dt.datetime) -> cms.ContentInfo:
        tsa = asn1_x509.Certificate.load(_der(self.tsa))
        ess = tsp.SigningCertificateV2(
            {"certs": [{"cert_hash": hashlib.sha256(_der(self.tsa)).digest()}]}
        )
        attrs = cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": "content_type", "values": [content_type]}),
                cms.CMSAttribute(
                    {"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(now)})]}
                ),
                cms.CMSAttribute(
                    {"type": "message_digest", "values": [hashlib.sha256(content).digest()]}
                ),
                cms.CMSAttribute({"type": "signing_certificate_v2", "values": [ess]}),
            ]
        )
        signature = self.tsa_key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256()))
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": {
                            "issuer": tsa.issuer,
                            "serial_number": tsa.serial_number,
                        }
                    }
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        root = asn1_x509.Certificate.load(_der(self.root))
        signed = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {
                    "content_type": content_type,
                    "content": cms.ParsableOctetString(content),
                },
                "certificates": [tsa, root],
                "signer_infos": [signer],
            }
        )
        return cms.ContentInfo({"content_type": "signed_data", "content": signed})

    # ---- RFC 6960 ------------------------------------------------------------------------
    def ocsp(self, body: bytes) -> bytes:
        """A DER OCSPResponse for a DER OCSPRequest about one certificate of the seal CA (or
        of the personal signing CA), signed by that CA."""
        try:
            req = ocsp.load_der_ocsp_request(body)
        except ValueError:
            return _ocsp_error(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        alg = req.hash_algorithm

        def key_hash(cert: x509.Certificate) -> bytes:
            h = hashes.Hash(alg)
            h.update(
                cert.public_key().public_bytes(
                    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
                )
            )
            return h.finalize()

        found = [i for i in self.issuers().values() if key_hash(i[0]) == req.issuer_key_hash]
        if not found:
            # not ours: RFC 6960 §2.3 has "unauthorized" for a responder not in a position to answer
            return _ocsp_error(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        issuer, issuer_key, registry = found[0]
        now = self.clock().replace(microsecond=0)
        known = registry().get(req.serial_number)
        builder = ocsp.OCSPResponseBuilder()
        if known is None:
            return _ocsp_error(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        cert, revoked_at, reason = known
        status = ocsp.OCSPCertStatus.GOOD if revoked_at is None else ocsp.OCSPCertStatus.REVOKED
        builder = builder.add_response(
            cert=cert,
            issuer=issuer,
            algorithm=hashes.SHA1() if isinstance(alg, hashes.SHA1) else hashes.SHA256(),
            cert_status=status,
            this_update=now,
            next_update=now + UPDATE_EVERY,
            revocation_time=revoked_at.replace(tzinfo=None) if revoked_at else None,
            revocation_reason=reason if revoked_at else None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
        for ext in req.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                builder = builder.add_extension(ext.value, critical=False)
        response = builder.sign(issuer_key, hashes.SHA256())
        return response.public_bytes(serialization.Encoding.DER)

    # ---- RFC 5280 CRLs -------------------------------------------------------------------
    def crl(self, issuer: str) -> bytes:
        """The DER CRL of ``issuer`` ("seal-ca": revoked seal certificates; "sign-ca": revoked
        personal signing certificates; "root": none of its intermediates is revoked)."""
        now = self.clock().replace(microsecond=0)
        issuers = self.issuers()
        if issuer in issuers:
            ca, key, registry = issuers[issuer]
            revoked: Iterable[tuple[int, dt.datetime, x509.ReasonFlags]] = [
                (serial, at, why) for serial, (_c, at, why) in registry().items() if at
            ]
        elif issuer == "root":
            ca, key, revoked = self.root, self.root_key, []
        else:
            raise LtvError(f"no CRL for {issuer!r}")
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca.subject)
            .last_update(now)
            .next_update(now + UPDATE_EVERY)
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca.public_key()  # type: ignore[arg-type]
                ),
                critical=False,
            )
        )
        for serial, at, why in sorted(revoked, key=lambda r: r[0]):
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(at.replace(microsecond=0))
            )
            if why != x509.ReasonFlags.unspecified:  # RFC 5280: omit rather than unspecified
                entry = entry.add_extension(x509.CRLReason(why), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _ocsp_error(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


ROUTES = {
    "/tsa": "application/timestamp-reply",
    "/ocsp": "application/ocsp-response",
    "/crl/seal-ca.crl": "application/pkix-crl",
    "/crl/sign-ca.crl": "application/pkix-crl",
    "/crl/root.crl": "application/pkix-crl",
}


def seal_revocation_urls(base_url: str) -> tuple[str, str] | None:
    """(OCSP URL, CRL URL) a seal certificate names for the service at ``base_url``
    (``HUB_LTV_URL``); None when no service is configured (no extension, no status check)."""
    base = base_url.rstrip("/")
    return (f"{base}/ocsp", f"{base}/crl/seal-ca.crl") if base else None


def person_revocation_urls(base_url: str) -> tuple[str, str] | None:
    """(OCSP URL, CRL URL) a personal signing certificate (cloud signature) names."""
    base = base_url.rstrip("/")
    return (f"{base}/ocsp", f"{base}/crl/sign-ca.crl") if base else None


def root_crl_url(base_url: str) -> str | None:
    """Where the root's CRL is (named by the seal CA's and the TSA's certificates)."""
    base = base_url.rstrip("/")
    return f"{base}/crl/root.crl" if base else None


def server(authority: Authority, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server for the three services (``serve_forever`` it, or run it in a thread):
    ``POST /tsa``, ``POST /ocsp``, ``GET /crl/seal-ca.crl``, ``/crl/sign-ca.crl`` and
    ``/crl/root.crl``."""

    class Handler(BaseHTTPRequestHandler):
        def _send(self, code: int, body: bytes, kind: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            name = self.path.removeprefix("/crl/").removesuffix(".crl")
            if self.path.startswith("/crl/") and self.path in ROUTES:
                try:
                    self._send(200, authority.crl(name), ROUTES[self.path])
                except LtvError:  # no personal signing CA on this platform (yet)
                    self._send(404, b"not found")
            else:
                self._send(404, b"not found")

        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length") or 0)
            if self.path not in ("/tsa", "/ocsp"):
                self._send(404, b"not found")
                return
            if not 0 < size <= MAX_REQUEST:
                self._send(413, b"request too large or empty")
                return
            body = self.rfile.read(size)
            try:
                answer = authority.timestamp(body) if self.path == "/tsa" else authority.ocsp(body)
            except (ValueError, TypeError, KeyError):
                self._send(400, b"request not understood")
                return
            self._send(200, answer, ROUTES[self.path])

        def log_message(self, format: str, *args: Any) -> None:
            return  # requests carry no personal data, but stay quiet on stderr

    return ThreadingHTTPServer((host, port), Handler)


def serve_in_thread(authority: Authority) -> tuple[ThreadingHTTPServer, str]:
    """A running server on a free local port and its base URL (tests, embedding)."""
    srv = server(authority)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    host, port = srv.server_address[:2]
    return srv, f"http://{host!s}:{port}"


# ---- PAdES B-T, B-LT, B-LTA ---------------------------------------------------------------


def _validation_context(trust_roots: Iterable[x509.Certificate]) -> Any:
    """pyHanko's context for gathering validation data: the platform's roots, fetching on,
    revocation information required for every certificate that says where it is."""
    from asn1crypto import x509 as ax509
    from pyhanko_certvalidator import ValidationContext

    roots = [ax509.Certificate.load(_der(c)) for c in trust_roots]
    return ValidationContext(trust_roots=roots, allow_fetching=True, revocation_mode="hard-fail")


def sign_pdf_ltv(
    pdf: bytes,
    signer: Any,
    trust_roots: Iterable[x509.Certificate],
    tsa_url: str,
    name: str | None,
    archive: bool = False,
    field_name: str = "Seal",
    reason: str = "电子证照签章 Electronic licence seal",
) -> bytes:
    """PAdES B-LT: the seal's signature (``signer``: ``licence.pdf.pdf_signer``, or a person's
    cloud signature, ``licence.cloudsign.remote.CscSigner``) with a signature time stamp from
    ``tsa_url`` and the validation data (certificates, OCSP answers, CRLs, fetched from where
    the certificates say) in the document security store; ``archive`` adds a document time
    stamp (B-LTA)."""
    import io

    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        name=name,
        reason=reason,
        embed_validation_info=True,
        validation_context=_validation_context(trust_roots),
        use_pades_lta=archive,
    )
    out = signers.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)),
        meta,
        signer=signer,
        timestamper=RequestsHTTPTimeStamper(tsa_url),  # type: ignore[no-untyped-call]
    )
    return bytes(out.getvalue())


def add_archive_timestamp(
    pdf: bytes, trust_roots: Iterable[x509.Certificate], tsa_url: str
) -> bytes:
    """B-LTA: validation data for the last time stamp, then a new document time stamp over
    everything (run again before the last time stamp's certificate expires)."""
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    out = io.BytesIO()
    stamper = RequestsHTTPTimeStamper(tsa_url)  # type: ignore[no-untyped-call]
    PdfTimeStamper(stamper).update_archival_timestamp_chain(
        PdfFileReader(io.BytesIO(pdf)),
        _validation_context(trust_roots),
        in_place=False,
        output=out,
    )
    return out.getvalue()


def why_not(exc: BaseException) -> str:
    """What stopped a long-term signature, for the person who asked: the certificate-path
    reason pyHanko keeps as the cause, named without the certificates' subjects (a person's
    name is in theirs)."""
    from pyhanko_certvalidator import errors

    cause = exc.__cause__ or exc
    reasons: list[tuple[type[BaseException], str]] = [
        (errors.RevokedError, "a certificate on the signer's path is revoked"),
        (
            errors.InsufficientRevinfoError,
            "the status of a certificate on the signer's path could not be had from the OCSP "
            "responder or CRL it names (is the service at HUB_LTV_URL running?)",
        ),
        (errors.ExpiredError, "a certificate on the signer's path has expired"),
        (errors.NotYetValidError, "a certificate on the signer's path is not yet valid"),
        (errors.PathBuildingError, "the signer's certificate does not chain to the platform root"),
        (OSError, "the time-stamping or status service could not be reached"),
    ]
    for kind, reason in reasons:
        if isinstance(cause, kind):
            return reason
    return str(exc)


# ---- the services over the platform's own state -------------------------------------------


def ensure_tsa(service: Any, crl_url: str | None = None) -> tuple[x509.Certificate, Any]:
    """The platform TSA's certificate (made once, kept as ``ca/tsa.pem``) and its key (kept
    encrypted in the key store, like every CA key)."""
    from licence import ca as platform_ca

    if service.objects.exists(TSA_OBJECT):
        cert = x509.load_pem_x509_certificate(service.objects.get(TSA_OBJECT))
        return cert, service.keys.load(TSA_KEY)
    pca = service.platform_ca()
    root_key = service.keys.load(platform_ca.ROOT_KEY)
    key = ec.generate_private_key(ec.SECP256R1())
    service.keys.save(TSA_KEY, key)
    cert = tsa_certificate(
        pca.root, root_key, key.public_key(), dt.datetime.now(dt.UTC), crl_url=crl_url
    )
    service.objects.put(TSA_OBJECT, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def authority_of(service: Any, base_url: str | None = None, cert_objects: Any = None) -> Authority:
    """The services' signing material and registries from a LicenceService: a revoked seal's
    certificate is revoked from the time its revocation was logged; the personal signing CA
    (made here if the cloud signature has not made it yet; its certificate in
    ``cert_objects``, default the licence objects) answers for the cloud signature's people."""
    from licence import ca as platform_ca
    from licence.seal_history import seal_events

    pca = service.platform_ca()
    root_crl = None if base_url is None else root_crl_url(base_url)
    tsa, tsa_key = ensure_tsa(service, root_crl)
    sign_ca = platform_ca.ensure_signing_ca(
        service.keys, cert_objects or service.objects, crl_url=root_crl
    )
    sign_ca_key = service.keys.load(platform_ca.SIGN_CA_KEY)

    def registry() -> Registry:
        events = seal_events(service.ledger)
        out: Registry = {}
        for row in service.store.seals():
            cert = x509.load_pem_x509_certificate(str(row["cert_pem"]).encode())
            out[cert.serial_number] = seal_standing(
                cert, str(row["status"]), events.get(str(row["seal_id"]), [])
            )
        return out

    return Authority(
        pca.root,
        service.keys.load(platform_ca.ROOT_KEY),
        pca.seal_ca,
        service.keys.load(platform_ca.SEAL_CA_KEY),
        tsa,
        tsa_key,
        registry,
        sign_ca=sign_ca,
        sign_ca_key=sign_ca_key,
        person_certificates=lambda: person_registry(service.store.engine),
    )
