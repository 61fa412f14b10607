"""Helpers shared by the command groups: how a refused command ends, and which errors of the
licence room a licence or seal command reports as such."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, NoReturn

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


def ltv_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--ltv`` and ``--tsa`` of every command that signs a PDF (a seal or a person's cloud
    signature): B-LTA through the platform's time-stamping authority."""
    command = click.option(
        "--tsa", "tsa_url", envvar="HUB_TSA_URL", default=None, help="the platform TSA's URL"
    )(command)
    return click.option(
        "--ltv",
        is_flag=True,
        help="PAdES B-LTA: signature time stamp, validation data and a document time stamp "
        "(needs --tsa)",
    )(command)
