"""Selective disclosure on the holder's own licence file, without the platform.

The holder's copy of a sealed licence carries every field's salt, so hiding a field needs
nothing but the file: the field is reduced to its salted digest (``licence.document.disclose``)
and the signed header, seal signature and ledger receipt stay as they are, so the result
verifies online and offline like the original. Only the licence and its receipt are written
out: whatever else the input file carried (status, holder, notes) is dropped, since the holder
asked for less to be shown, not more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from licence import document
from licence.verify.inputs import read_licence_json
from licence.verify.results import MalformedLicenceError

# the members of a licence that travel with a disclosed copy (anything else is dropped)
KEPT = ("header", "signature", "fields")


class DisclosureError(ValueError):
    """The file cannot be disclosed as asked (unreadable, altered, or unknown field names)."""


def hidden_names(hide: Iterable[str]) -> list[str]:
    """Field names from ``--hide`` options, each possibly comma-separated (``f,g``), trimmed,
    in order, without repeats; an empty list is refused (nothing would be hidden)."""
    names: list[str] = []
    for option in hide:
        for part in option.replace("，", ",").split(","):
            name = part.strip()
            if name and name not in names:
                names.append(name)
    if not names:
        raise DisclosureError("name at least one field to hide, e.g. --hide address,birth_date")
    return names


def disclose_document(licence: Mapping[str, Any], hide: Iterable[str]) -> dict[str, Any]:
    """A disclosed copy of one licence: the fields named in ``hide`` (exact names) reduced to
    digests, only :data:`KEPT` kept.

    Refuses a licence whose fields do not add up to its signed digest (a disclosed copy of an
    altered file would carry the alteration on) and names unknown fields."""
    header = licence.get("header")
    fields = licence.get("fields")
    if not isinstance(header, dict) or not isinstance(fields, dict) or not fields:
        raise DisclosureError("the file holds no licence: it lacks a header or fields")
    for name, entry in fields.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str):
            raise DisclosureError(f"field {name!r} of the licence has no digest")
    names = list(dict.fromkeys(hide))
    if not names:
        raise DisclosureError("name at least one field to hide")
    unknown = [n for n in names if n not in fields]
    if unknown:
        raise DisclosureError(
            f"the licence has no field {', '.join(map(repr, unknown))}; "
            f"its fields are: {', '.join(sorted(fields))}"
        )
    try:
        document.check_integrity(
            fields, str(header.get("document_digest")), str(header.get("digest_alg", "sha256"))
        )
    except (document.IntegrityError, KeyError, TypeError, ValueError) as exc:
        raise DisclosureError(
            f"the licence file was altered, it cannot be disclosed: {exc}"
        ) from None
    kept = {k: licence[k] for k in KEPT if k in licence}
    return document.disclose(kept, names)


def disclose_file(data: bytes, hide: Iterable[str]) -> dict[str, Any]:
    """The disclosed copy of a licence file (bare, ``{"licence": …, "receipt": …}`` or as
    ``hub licence show`` prints it): ``{"licence": …, "receipt": …}`` when the file had a
    receipt (so the copy verifies offline too), else the bare disclosed licence."""
    from ledger.strict_json import StrictJSONError

    try:
        licence, receipt = read_licence_json(data)
    except StrictJSONError as exc:
        raise DisclosureError(f"the file is not a readable JSON licence: {exc}") from None
    except MalformedLicenceError as exc:
        raise DisclosureError(str(exc)) from None
    disclosed = disclose_document(licence, hide)
    return disclosed if receipt is None else {"licence": disclosed, "receipt": receipt}
