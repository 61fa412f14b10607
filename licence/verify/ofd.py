"""Verifying a sealed licence OFD (GB/T 33190): the package, its GB/T 38540 signature and its
tie to the licence.

The package is read defensively (bounded entry count and sizes, no absolute or ``..`` names,
no duplicates, XML without DTDs or entities). The signature listed in ``Signatures.xml`` must
protect every file of the package (bar its own files and the list of signatures) with digests
that match (check ``ofd_package``); its SES_Signature over ``Signature.xml`` then gets every
check of :mod:`licence.verify.ses`, named ``ofd_…``. The sealed licence the package carries as
an attachment must be sealed with the same seal certificate that signed the package (check
``ofd_licence``); the licence itself is then verified like any other.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import posixpath
import zipfile
from typing import Any, NamedTuple

from licence import gbt38540
from licence.signers import SM2_SM3
from licence.verify.checks_seal import load_certificate
from licence.verify.context import VerifyContext
from licence.verify.results import FAILED, PASSED, CheckResult, result
from licence.verify.ses import ses_checks

OFD_NS = "http://www.ofdspec.org/2016"
MAX_ENTRIES = 256
MAX_TOTAL = 64 * 1024 * 1024  # uncompressed bytes of the whole package
LICENCE_ATTACHMENT = "Doc_0/Attachs/licence.json"
CHECK_METHODS = {gbt38540.SM3_OID: "sm3", "2.16.840.1.101.3.4.2.1": "sha256"}


class _Signed(NamedTuple):
    sig_path: str
    sig_xml: bytes
    value_path: str
    value: bytes
    refs: Any
    info: Any
    sigs_path: str


class OfdError(ValueError):
    """The package is not a readable, complete OFD."""


def looks_like_ofd(data: bytes) -> bool:
    """A ZIP archive (OFD is a ZIP package with OFD.xml at its root)."""
    return data[:4] == b"PK\x03\x04"


def _files(data: bytes) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise OfdError(f"not a ZIP package: {exc}") from None
    if len(infos) > MAX_ENTRIES:
        raise OfdError(f"more than {MAX_ENTRIES} files in the package")
    if sum(i.file_size for i in infos) > MAX_TOTAL:
        raise OfdError(f"the package unpacks to more than {MAX_TOTAL // 2**20} MiB")
    files: dict[str, bytes] = {}
    for info in infos:
        name = info.filename
        if info.is_dir():
            continue
        clean = posixpath.normpath(name)
        if name.startswith("/") or clean != name or clean.startswith(".."):
            raise OfdError(f"unsafe file name in the package: {name!r}")
        if name in files:
            raise OfdError(f"the package holds {name} twice")
        try:
            body = archive.read(info)
        except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError) as exc:
            raise OfdError(f"{name} cannot be read: {exc}") from None
        if len(body) != info.file_size:
            raise OfdError(f"{name} is not the size the package says")
        files[name] = body
    if "OFD.xml" not in files:
        raise OfdError("no OFD.xml at the root of the package")
    return files


def _xml(files: dict[str, bytes], name: str) -> Any:
    from lxml import etree

    body = files.get(name)
    if body is None:
        raise OfdError(f"the package has no {name}")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise OfdError(f"{name} is not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise OfdError(f"{name} carries a DOCTYPE, which OFD files never have")
    return root


def _loc(base: str, ref: str) -> str:
    """A package path for ``ref`` (absolute from the root, else relative to ``base``'s folder)."""
    path = ref.lstrip("/") if ref.startswith("/") else posixpath.join(posixpath.dirname(base), ref)
    return posixpath.normpath(path)


def _text(node: Any, tag: str) -> str:
    found = node.find(f"{{{OFD_NS}}}{tag}")
    return "" if found is None or found.text is None else str(found.text).strip()


def _signature_files(files: dict[str, bytes]) -> _Signed:
    """(Signature.xml path and bytes, SignedValue path and bytes, References) of the one
    seal signature the package lists."""
    ofd = _xml(files, "OFD.xml")
    if ofd.tag != f"{{{OFD_NS}}}OFD":
        raise OfdError("OFD.xml is not an ofd:OFD document")
    body = ofd.find(f"{{{OFD_NS}}}DocBody")
    sigs_loc = "" if body is None else _text(body, "Signatures")
    if not sigs_loc:
        raise OfdError("the OFD is not signed (no Signatures in its DocBody)")
    sigs_path = _loc("OFD.xml", sigs_loc)
    listed = _xml(files, sigs_path).findall(f"{{{OFD_NS}}}Signature")
    if len(listed) != 1:
        raise OfdError(f"{sigs_path} lists {len(listed)} signatures; a licence OFD carries one")
    sig_path = _loc(sigs_path, str(listed[0].get("BaseLoc", "")))
    sig = _xml(files, sig_path)
    info = sig.find(f"{{{OFD_NS}}}SignedInfo")
    if info is None:
        raise OfdError(f"{sig_path} has no SignedInfo")
    value_path = _loc(sig_path, _text(sig, "SignedValue"))
    if value_path not in files:
        raise OfdError(f"the signed value {value_path} is missing")
    refs = info.find(f"{{{OFD_NS}}}References")
    if refs is None:
        raise OfdError(f"{sig_path} protects no files (no References)")
    return _Signed(sig_path, files[sig_path], value_path, files[value_path], refs, info, sigs_path)


def _package_check(files: dict[str, bytes], signed: _Signed) -> CheckResult:
    """Every file is protected and each digest matches."""
    name = "ofd_package"
    refs = signed.refs
    method = CHECK_METHODS.get(str(refs.get("CheckMethod", "")))
    if method is None:
        return result(
            name,
            FAILED,
            "OFD_UNKNOWN_DIGEST",
            f"the references use an unknown digest {refs.get('CheckMethod')!r}",
            "文件摘要算法未知",
        )
    protected: set[str] = set()
    for ref in refs.findall(f"{{{OFD_NS}}}Reference"):
        path = _loc("OFD.xml", str(ref.get("FileRef", "")))
        body = files.get(path)
        if body is None:
            return result(
                name, FAILED, "OFD_FILE_MISSING", f"the signed file {path} is missing",
                "签章保护的文件缺失",
            )  # fmt: skip
        digest = (
            gbt38540.digest(SM2_SM3, body) if method == "sm3" else hashlib.sha256(body).digest()
        )
        if base64.b64encode(digest).decode() != _text(ref, "CheckValue"):
            return result(
                name, FAILED, "OFD_FILE_ALTERED", f"{path} was changed after signing",
                f"文件“{path}”在签章后被改动",
            )  # fmt: skip
        protected.add(path)
    own = {signed.sig_path, signed.value_path, signed.sigs_path}
    unprotected = sorted(set(files) - protected - own)
    if unprotected:
        return result(
            name,
            FAILED,
            "OFD_FILE_UNSIGNED",
            f"files not covered by the signature: {', '.join(unprotected[:5])}",
            "包内有未受签章保护的文件（签章后被添加）",
        )
    return result(
        name,
        PASSED,
        "OK",
        f"all {len(protected)} files of the package are signed and unchanged",
        "文件包完整，全部文件受签章保护",
    )


def verify_ofd_bytes(
    data: bytes, ctx: VerifyContext
) -> tuple[list[CheckResult], dict[str, Any] | None]:
    """The OFD's checks and the sealed licence it carries (None when it cannot be tied)."""
    try:
        files = _files(data)
        signed = _signature_files(files)
    except OfdError as exc:
        return [result("ofd_package", FAILED, "OFD_MALFORMED", str(exc), "OFD 文件无法读取")], None
    package = _package_check(files, signed)
    ses, sig = ses_checks(signed.value, signed.sig_xml, ctx)
    lines = [package, *(CheckResult("ofd_" + c.check, *_rest(c)) for c in ses)]
    if sig is None:
        return lines, None
    method = _text(signed.info, "SignatureMethod")
    if method != gbt38540.ALGORITHM_OIDS.get(sig.algorithm):
        lines.append(
            result(
                "ofd_licence",
                FAILED,
                "OFD_METHOD_MISMATCH",
                f"Signature.xml names {method}, the signature is {sig.algorithm}",
                "签名算法声明与签章不符",
            )
        )
        return lines, None
    tie, doc = _licence(files, sig.cert)
    lines.append(tie)
    return lines, doc


def _rest(c: CheckResult) -> tuple[Any, str, str, str]:
    return c.status, c.reason, c.en, c.zh


def _licence(files: dict[str, bytes], signer_der: bytes) -> tuple[CheckResult, Any]:
    name = "ofd_licence"
    raw = files.get(LICENCE_ATTACHMENT)
    try:
        doc = json.loads(raw) if raw is not None else None
        cert = load_certificate(str(doc["signature"]["certificate"])) if doc else None
    except (ValueError, TypeError, KeyError) as exc:
        return result(
            name, FAILED, "OFD_LICENCE_UNREADABLE", f"the licence it carries cannot be read: {exc}",
            "OFD 所附证照无法读取",
        ), None  # fmt: skip
    if doc is None or cert is None:
        return result(
            name, FAILED, "OFD_NO_LICENCE", "the OFD carries no sealed licence",
            "OFD 未附证照数据",
        ), None  # fmt: skip
    from cryptography.hazmat.primitives import serialization

    if cert.public_bytes(serialization.Encoding.DER) != signer_der:
        return result(
            name, FAILED, "OFD_SEAL_MISMATCH",
            "the OFD was signed with another seal than the one that sealed the licence",
            "OFD 签章与证照印章不一致",
        ), None  # fmt: skip
    lid = doc.get("header", {}).get("licence_id", "")
    return result(
        name, PASSED, "OK", f"carries licence {lid}, sealed with the same seal",
        "OFD 与所附证照为同一印章签章",
    ), doc  # fmt: skip
