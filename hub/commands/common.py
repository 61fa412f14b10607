"""Helpers shared by the command groups: how a refused command ends, and which errors of the
licence room a licence or seal command reports as such."""

from __future__ import annotations

import sys
from typing import NoReturn

import click


def fail(reason: object, code: int = 2) -> NoReturn:
    """End the command: ``error: <reason>`` on stderr (never a traceback), exit status ``code``
    (2, a usage error or an INDETERMINATE verdict, unless said otherwise)."""
    click.echo(f"error: {reason}", err=True)
    sys.exit(code)


def licence_errors() -> tuple[type[Exception], ...]:
    """The errors a licence or seal command reports with :func:`fail` (imported when needed)."""
    from licence.authorities import AuthorityError
    from licence.ca import CertificateAuthorityError
    from licence.errors import LicenceError
    from licence.seals import SealError

    return (LicenceError, SealError, AuthorityError, CertificateAuthorityError, KeyError)
