"""The hub's licence types (every version) and issuing authorities, stored in the
database and seeded with the shipped catalogue.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Engine,
    and_,
    insert,
    select,
    update,
)

from licence import authorities as auth_registry
from licence.tables import (
    SEEDED_AT,
    authority_rows,
    type_versions,
)
from schemas import licence_types


def _authority_values(a: auth_registry.Authority) -> dict[str, Any]:
    return {
        "uscc": a.uscc,
        "name": a.name,
        "division": a.division,
        "kind": a.kind,
        "may_issue": ",".join(a.may_issue),
        "updated_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
    }


class RegistryStore:
    """Licence types and authorities (a base of :class:`licence.store.LicenceStore`)."""

    engine: Engine

    def seed(self) -> None:
        """Add the shipped types and authorities this hub does not have yet (a new hub gets
        all of them; a stored one is never overwritten)."""
        from sqlalchemy.exc import IntegrityError

        types = licence_types.shipped()
        stems = {lt.code: stem for stem, lt in types.items() if not stem[0].isdigit()}
        shipped_auth = auth_registry.shipped()
        with self.engine.connect() as conn:
            have_types = set(conn.execute(select(type_versions.c.code).distinct()).scalars())
            have_auth = set(conn.execute(select(authority_rows.c.uscc)).scalars())
        new_types = [c for c in stems if c not in have_types]
        new_auth = [a for a in shipped_auth.values() if a.uscc not in have_auth]
        if not new_types and not new_auth:
            return
        folder = licence_types.CATALOGUE_DIR
        try:
            with self.engine.begin() as conn:
                for code in new_types:
                    text_ = (folder / f"{stems[code]}.yaml").read_text(encoding="utf-8")
                    conn.execute(
                        insert(type_versions).values(
                            code=code, version=1, stem=stems[code], yaml=text_, created_at=SEEDED_AT
                        )
                    )
                for a in new_auth:
                    conn.execute(insert(authority_rows).values(**_authority_values(a)))
        except IntegrityError:
            pass  # another process seeded meanwhile

    def type_versions(self) -> dict[str, list[licence_types.Version]]:
        """Every version of every type, oldest first, by type code."""
        cols = type_versions.c
        stmt = select(cols.code, cols.stem, cols.yaml, cols.created_at).order_by(
            cols.code, cols.version
        )
        out: dict[str, list[licence_types.Version]] = {}
        with self.engine.connect() as conn:
            for code, stem, yaml_text, since in conn.execute(stmt):
                lt = licence_types.parse_text(yaml_text, f"{stem}.yaml")
                out.setdefault(str(code), []).append(licence_types.Version(stem, since, lt))
        return out

    def add_type(self, yaml_text: str, stem: str) -> int:
        """Add a licence type, or a new version of one (same code and name); returns its
        version number (0 when the text is the current version's). Licences already issued
        keep the version they were sealed under."""
        import re

        if not re.fullmatch(r"[a-z][a-z0-9_]{1,63}", stem):
            raise licence_types.LicenceTypeError(
                f"catalogue name {stem!r}: lower case letters, digits and _ (the file's name)"
            )
        lt = licence_types.parse_text(yaml_text, f"{stem}.yaml")
        cols = type_versions.c
        # to the second, as licences are sealed: one sealed from this second on uses it
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(cols.version, cols.stem, cols.yaml)
                .where(cols.code == lt.code)
                .order_by(cols.version.desc())
            ).all()
            other = conn.execute(
                select(cols.code).where(and_(cols.stem == stem, cols.code != lt.code)).limit(1)
            ).first()
            if other is not None:
                raise licence_types.LicenceTypeError(
                    f"catalogue name {stem!r} is type {other[0]}; name the file after the type"
                )
            if rows:
                version, old_stem, old_text = rows[0]
                if old_stem != stem:
                    raise licence_types.LicenceTypeError(
                        f"type {lt.code} is {old_stem!r}: name the file {old_stem}.yaml"
                    )
                old = licence_types.parse_text(old_text, f"{stem}.yaml")
                if old.holder_kind != lt.holder_kind:
                    raise licence_types.LicenceTypeError(
                        f"type {lt.code} is held by {old.holder_kind}: its holder kind cannot "
                        "change (define a new type code instead)"
                    )
                if old == lt:
                    return 0
            version = (rows[0][0] if rows else 0) + 1
            conn.execute(
                insert(type_versions).values(
                    code=lt.code, version=version, stem=stem, yaml=yaml_text, created_at=now
                )
            )
        licence_types.refresh()
        return int(version)

    def authorities(self) -> dict[str, auth_registry.Authority]:
        """The hub's issuing authorities by USCC."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(authority_rows).order_by(authority_rows.c.uscc)).all()
        out = {}
        for r in rows:
            codes = tuple(c for c in r.may_issue.split(",") if c)
            out[r.uscc] = auth_registry.Authority(r.uscc, r.name, r.division, r.kind, codes)
        return out

    def add_authority(self, auth: auth_registry.Authority) -> None:
        """Register an issuing authority (its USCC and every type checked first)."""
        from sqlalchemy.exc import IntegrityError

        checked = auth_registry.checked_row(
            {
                "uscc": auth.uscc,
                "name": auth.name,
                "division": auth.division,
                "kind": auth.kind,
                "may_issue": list(auth.may_issue),
            },
            "authority",
        )
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(authority_rows).values(**_authority_values(checked)))
        except IntegrityError:
            raise auth_registry.AuthorityError(
                f"authority {checked.uscc} is registered already (`hub authority list`)"
            ) from None
        auth_registry.refresh()

    def grant_type(self, uscc: str, type_name: str) -> auth_registry.Authority:
        """Let an authority issue one more licence type; the type must list the authority's
        kind among its issuer kinds."""
        lt = licence_types.get(type_name)
        with self.engine.begin() as conn:
            row = conn.execute(select(authority_rows).where(authority_rows.c.uscc == uscc)).first()
            if row is None:
                raise auth_registry.AuthorityError(f"authority {uscc} is not registered")
            if row.kind not in lt.issuer_kinds:
                raise auth_registry.AuthorityError(
                    f"{lt.name} is issued by {', '.join(lt.issuer_kinds)}, not by {row.kind}: "
                    "add the kind to the type's issuer_kinds (`hub licence types add`) first"
                )
            codes = [c for c in row.may_issue.split(",") if c]
            if lt.code not in codes:
                codes.append(lt.code)
            conn.execute(
                update(authority_rows)
                .where(authority_rows.c.uscc == uscc)
                .values(
                    may_issue=",".join(codes),
                    updated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                )
            )
        auth_registry.refresh()
        return auth_registry.Authority(row.uscc, row.name, row.division, row.kind, tuple(codes))
