"""Platform certificate authority: a root and a seal-issuing intermediate (X.509, ECDSA P-256).

Seal certificates bind the authority's USCC (subject organizationIdentifier ``USCC-<code>``, the
ETSI EN 319 412-1 style), the seal name (CN), the authority name (O) and the SHA-256 of the seal
picture in a non-critical private extension (OID ``SEAL_PICTURE_OID``, an OCTET STRING of 32 bytes)
so a verifier can check that the picture shown is the one certified.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID, NameOID

from storage.keys import KeyStore

ROOT_KEY = "platform-root-ca"
SEAL_CA_KEY = "platform-seal-ca"
# private arc for the seal picture hash; to be replaced by a registered OID before production
SEAL_PICTURE_OID = x509.ObjectIdentifier("1.3.6.1.4.1.61810.1.1")
# the same arc: the (critical, only) extended key usage of the platform's SM2 seal maker, the
# one certificate besides the seal CA itself whose signature makes a GB/T 38540 seal
SEAL_MAKING_OID = x509.ObjectIdentifier("1.3.6.1.4.1.61810.1.4")
SEAL_MAKER_KEY, SEAL_MAKER_OBJECT = "platform-seal-maker-sm2", "ca/seal-maker-sm2.pem"


class CertificateAuthorityError(Exception):
    """The platform CA is missing or inconsistent (run `hub init`)."""


@dataclass(frozen=True)
class PlatformCA:
    root: x509.Certificate
    seal_ca: x509.Certificate


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "省级电子证照共享平台"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _ca_cert(
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    signer: ec.EllipticCurvePrivateKey,
    years: int,
    path_len: int,
    now: dt.datetime,
    issuer_public: ec.EllipticCurvePublicKey,
    crl_url: str | None = None,
) -> x509.Certificate:
    builder = x509.CertificateBuilder()
    if crl_url is not None:
        builder = builder.add_extension(crl_distribution_points(crl_url), critical=False)
    return (
        builder.subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False
        )
        .sign(signer, hashes.SHA256())
    )


def crl_distribution_points(crl_url: str) -> x509.CRLDistributionPoints:
    """RFC 5280 §4.2.1.13: the one place the issuer's CRL is published."""
    point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
    return x509.CRLDistributionPoints([point])


def revocation_extensions(revocation: tuple[str, str] | None) -> list[x509.ExtensionType]:
    """Where a certificate's status is told: the OCSP responder (authority information access,
    RFC 5280 §4.2.2.1) and the CRL (distribution point), from ``revocation`` = (OCSP URL, CRL
    URL); none without."""
    if revocation is None:
        return []
    ocsp_url, crl_url = revocation
    ocsp = x509.AccessDescription(
        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
    )
    return [x509.AuthorityInformationAccess([ocsp]), crl_distribution_points(crl_url)]


def create_platform_ca(
    keys: KeyStore, now: dt.datetime | None = None, crl_url: str | None = None
) -> PlatformCA:
    """Create the root and seal-issuing CA; keys go to the (encrypted) key store. With
    ``crl_url`` (the root's CRL, ``licence.ltv``) the seal CA's certificate says where it is."""
    now = now or dt.datetime.now(dt.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    seal_key = ec.generate_private_key(ec.SECP256R1())
    keys.save(ROOT_KEY, root_key)
    keys.save(SEAL_CA_KEY, seal_key)
    root_name, seal_name = _name("平台根证书 Platform Root CA"), _name("电子印章签发CA Seal CA")
    root = _ca_cert(
        root_name, root_name, root_key.public_key(), root_key, 20, 1, now, root_key.public_key()
    )
    seal_ca = _ca_cert(
        seal_name,
        root_name,
        seal_key.public_key(),
        root_key,
        10,
        0,
        now,
        root_key.public_key(),
        crl_url,
    )
    return PlatformCA(root, seal_ca)


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _seal_subject(uscc: str, authority_name: str, seal_name: str) -> x509.Name:
    """A seal certificate's subject: the authority, its USCC and the seal's name."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, authority_name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"USCC-{uscc}"),
            x509.NameAttribute(NameOID.COMMON_NAME, seal_name),
        ]
    )


def _person_subject(name: str, id_number: str) -> x509.Name:
    """A signing certificate's subject: the person's name and the masked ID number."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            # X.520 serialNumber is a PrintableString, which has no "*": the masked number goes
            # in description (a DirectoryString) for people to read
            x509.NameAttribute(DESCRIPTION_OID, f"公民身份号码 {mask_id_number(id_number)}"),
        ]
    )


def issue_seal_certificate(
    keys: KeyStore,
    seal_ca: x509.Certificate,
    public: ec.EllipticCurvePublicKey,
    uscc: str,
    authority_name: str,
    seal_name: str,
    picture_sha256: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime,
    revocation: tuple[str, str] | None = None,
) -> x509.Certificate:
    """A seal certificate signed by the seal CA, binding USCC, seal name and picture hash;
    ``revocation`` = (OCSP URL, CRL URL) puts where its status is told into it
    (``licence.ltv`` serves both)."""
    picture = x509.UnrecognizedExtension(SEAL_PICTURE_OID, b"\x04\x20" + picture_sha256)
    return _signing_certificate(
        keys,
        (SEAL_CA_KEY, "seal CA", seal_ca),
        public,
        _seal_subject(uscc, authority_name, seal_name),
        (not_before, not_after),
        picture,
        revocation,
    )


def _signing_certificate(
    keys: KeyStore,
    issuer: tuple[str, str, x509.Certificate],
    public: ec.EllipticCurvePublicKey,
    subject: x509.Name,
    validity: tuple[dt.datetime, dt.datetime],
    extension: x509.ExtensionType,
    revocation: tuple[str, str] | None = None,
) -> x509.Certificate:
    """An end-entity signing certificate (digitalSignature + nonRepudiation, not a CA) issued by
    ``issuer`` = (its key's name, what it is called in errors, its certificate), carrying one
    extension of its own (a seal's picture hash, a person's key identifier)."""
    key_name, what, ca = issuer
    ca_key = keys.load(key_name)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CertificateAuthorityError(f"{what} key is not an EC key")
    builder = x509.CertificateBuilder()
    for located in revocation_extensions(revocation):
        builder = builder.add_extension(located, critical=False)
    return (
        builder.subject_name(subject)
        .issuer_name(ca.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(extension, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca.public_key()  # type: ignore[arg-type]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def seal_picture_hash(cert: x509.Certificate) -> bytes:
    """The picture SHA-256 a seal certificate certifies."""
    ext = cert.extensions.get_extension_for_oid(SEAL_PICTURE_OID).value
    return bytes(ext.value)[2:]  # type: ignore[attr-defined]


# ---- cloud signature (电子云签): a signing CA under the root and per-person certificates ----
SIGN_CA_KEY = "platform-sign-ca"
DESCRIPTION_OID = x509.ObjectIdentifier("2.5.4.13")
ROOT_OBJECT, SEAL_CA_OBJECT, SIGN_CA_OBJECT = "ca/root.pem", "ca/seal-ca.pem", "ca/sign-ca.pem"


class _CertObjects(Protocol):
    def put(self, key: str, data: bytes) -> bool: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


def ensure_platform_ca(keys: KeyStore, objects: _CertObjects) -> PlatformCA:
    """The stored platform root and seal CA, created once (same objects as ``hub init``)."""
    if objects.exists(ROOT_OBJECT):
        return PlatformCA(
            x509.load_pem_x509_certificate(objects.get(ROOT_OBJECT)),
            x509.load_pem_x509_certificate(objects.get(SEAL_CA_OBJECT)),
        )
    pca = create_platform_ca(keys)
    objects.put(ROOT_OBJECT, pem(pca.root).encode())
    objects.put(SEAL_CA_OBJECT, pem(pca.seal_ca).encode())
    return pca


def ensure_signing_ca(
    keys: KeyStore,
    objects: _CertObjects,
    now: dt.datetime | None = None,
    crl_url: str | None = None,
) -> x509.Certificate:
    """The personal-signature issuing CA (under the platform root), created on first use (with
    ``crl_url``, the root's CRL, named in its certificate)."""
    if objects.exists(SIGN_CA_OBJECT):
        if not keys.exists(SIGN_CA_KEY):
            raise CertificateAuthorityError(
                f"the object store holds {SIGN_CA_OBJECT} but the key store has no "
                f"{SIGN_CA_KEY!r} key: key folder and object store belong to different hubs"
            )
        return x509.load_pem_x509_certificate(objects.get(SIGN_CA_OBJECT))
    pca = ensure_platform_ca(keys, objects)
    root_key = keys.load(ROOT_KEY)
    if not isinstance(root_key, ec.EllipticCurvePrivateKey):
        raise CertificateAuthorityError("platform root key is not an EC key")
    if not keys.exists(SIGN_CA_KEY):
        keys.save(SIGN_CA_KEY, ec.generate_private_key(ec.SECP256R1()))
    sign_key = keys.load(SIGN_CA_KEY)
    if not isinstance(sign_key, ec.EllipticCurvePrivateKey):
        raise CertificateAuthorityError("signing CA key is not an EC key")
    cert = _ca_cert(
        _name("个人电子签名CA Personal Signing CA"),
        pca.root.subject,
        sign_key.public_key(),
        root_key,
        10,
        0,
        now or dt.datetime.now(dt.UTC),
        root_key.public_key(),
        crl_url,
    )
    objects.put(SIGN_CA_OBJECT, pem(cert).encode())
    return cert


def mask_id_number(id_number: str) -> str:
    """First 6 and last 4 characters shown, the rest starred (``110105********002X``)."""
    if len(id_number) < 10:
        raise CertificateAuthorityError("identity number too short to mask")
    return id_number[:6] + "*" * (len(id_number) - 10) + id_number[-4:]


def issue_person_certificate(
    keys: KeyStore,
    sign_ca: x509.Certificate,
    public: ec.EllipticCurvePublicKey,
    name: str,
    id_number: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    revocation: tuple[str, str] | None = None,
) -> x509.Certificate:
    """A natural person's signing certificate: CN = name, description = the masked ID number
    (never the full number); key usage digitalSignature + nonRepudiation; ``revocation`` as
    for seals."""
    return _signing_certificate(
        keys,
        (SIGN_CA_KEY, "signing CA", sign_ca),
        public,
        _person_subject(name, id_number),
        (not_before, not_after),
        x509.SubjectKeyIdentifier.from_public_key(public),
        revocation,
    )


# ---- SM2 seal certificates (national profile) ----------------------------------------------
def _asn1_time(t: dt.datetime) -> object:
    """RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050."""
    from asn1crypto import x509 as asn1_x509

    t = t.astimezone(dt.UTC).replace(microsecond=0)
    return asn1_x509.Time({"utc_time" if t.year < 2050 else "general_time": t})


def _sm2_end_entity_certificate(
    ca_key_name: str,
    keys: KeyStore,
    issuer: x509.Certificate,
    subject: x509.Name,
    public_point: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime,
    extra: list[tuple[x509.ObjectIdentifier, bool, bytes]],
) -> x509.Certificate:
    """An end-entity certificate over an SM2 public key, signed by a P-256 CA of ours.

    ``cryptography`` cannot take an SM2 key in a builder, so the TBSCertificate is assembled with
    asn1crypto: the key is id-ecPublicKey on the SM2 curve (1.2.156.10197.1.301), signed with
    ecdsa-with-SHA256. ``cryptography`` still loads the result and checks its issuer signature
    (only ``public_key()`` refuses the curve). Extensions: basic constraints (not a CA), key
    usage (digital signature, non-repudiation), ``extra``, and the authority key identifier.
    """
    from asn1crypto import core as asn1_core
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509

    from licence.signers import SM2_CURVE_OID, sm2_point_on_curve

    if not sm2_point_on_curve(public_point):
        raise CertificateAuthorityError("not an SM2 public key (04‖x‖y on the SM2 curve)")
    ca_key = keys.load(ca_key_name)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise CertificateAuthorityError(f"{ca_key_name} is not an EC key")
    extensions: list[tuple[x509.ObjectIdentifier, bool, bytes]] = [
        (ExtensionOID.BASIC_CONSTRAINTS, True, x509.BasicConstraints(False, None).public_bytes()),
        (
            ExtensionOID.KEY_USAGE,
            True,
            x509.KeyUsage(
                True, True, False, False, False, False, False, False, False
            ).public_bytes(),
        ),
        *extra,
        (
            ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
            False,
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.public_key()  # type: ignore[arg-type]
            ).public_bytes(),
        ),
    ]
    spki = asn1_keys.PublicKeyInfo(
        {
            "algorithm": {
                "algorithm": "ec",
                "parameters": asn1_keys.ECDomainParameters(name="named", value=SM2_CURVE_OID),
            },
            "public_key": public_point,
        }
    )
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": x509.random_serial_number(),
            "signature": {"algorithm": "sha256_ecdsa"},
            "issuer": asn1_x509.Name.load(issuer.subject.public_bytes()),
            "validity": {"not_before": _asn1_time(not_before), "not_after": _asn1_time(not_after)},
            "subject": asn1_x509.Name.load(subject.public_bytes()),
            "subject_public_key_info": spki,
            "extensions": [
                {
                    "extn_id": oid.dotted_string,
                    "critical": critical,
                    "extn_value": asn1_core.ParsableOctetString(value),
                }
                for oid, critical, value in extensions
            ],
        }
    )
    signature = ca_key.sign(tbs.dump(), ec.ECDSA(hashes.SHA256()))
    cert = asn1_x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature_value": signature,
        }
    )
    return x509.load_der_x509_certificate(cert.dump())


def issue_sm2_seal_certificate(
    keys: KeyStore,
    seal_ca: x509.Certificate,
    public_point: bytes,
    uscc: str,
    authority_name: str,
    seal_name: str,
    picture_sha256: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime,
    revocation: tuple[str, str] | None = None,
) -> x509.Certificate:
    """The SM2 twin of :func:`issue_seal_certificate`: same subject and extensions, the key on
    the SM2 curve, signed by the seal CA's P-256 key."""
    subject = _seal_subject(uscc, authority_name, seal_name)
    picture = [(SEAL_PICTURE_OID, False, b"\x04\x20" + picture_sha256)]
    picture += [(e.oid, False, e.public_bytes()) for e in revocation_extensions(revocation)]
    return _sm2_end_entity_certificate(
        SEAL_CA_KEY, keys, seal_ca, subject, public_point, not_before, not_after, picture
    )


def issue_sm2_seal_maker_certificate(
    keys: KeyStore,
    seal_ca: x509.Certificate,
    public_point: bytes,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.Certificate:
    """The national profile's seal maker (制章者): an SM2 key certified by the seal CA (P-256,
    as for SM2 seals) for one use only, making seals (critical extended key usage
    ``SEAL_MAKING_OID``), so an SESeal's maker signature is SM2 with SM3 like the seals' own."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "省级电子证照共享平台"),
            x509.NameAttribute(NameOID.COMMON_NAME, "电子印章制章者 Seal Maker (SM2)"),
        ]
    )
    eku = x509.ExtendedKeyUsage([SEAL_MAKING_OID])
    return _sm2_end_entity_certificate(
        SEAL_CA_KEY, keys, seal_ca, name, public_point, not_before, not_after,
        [(eku.oid, True, eku.public_bytes())],
    )  # fmt: skip


def issue_sm2_person_certificate(
    keys: KeyStore,
    sign_ca: x509.Certificate,
    public_point: bytes,
    name: str,
    id_number: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    revocation: tuple[str, str] | None = None,
) -> x509.Certificate:
    """The SM2 twin of :func:`issue_person_certificate` (national profile): same subject (CN =
    name, description = masked ID number) and extensions, the key on the SM2 curve, signed by
    the signing CA's P-256 key."""
    import hashlib

    subject = _person_subject(name, id_number)
    # RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bit string
    key_id = hashlib.sha1(public_point, usedforsecurity=False).digest()
    ski = [
        (
            ExtensionOID.SUBJECT_KEY_IDENTIFIER,
            False,
            x509.SubjectKeyIdentifier(key_id).public_bytes(),
        )
    ]
    ski += [(e.oid, False, e.public_bytes()) for e in revocation_extensions(revocation)]
    return _sm2_end_entity_certificate(
        SIGN_CA_KEY, keys, sign_ca, subject, public_point, not_before, not_after, ski
    )
