"""``hub staff``: accounts for the staff web pages (roles admin, publisher, issuer, verifier,
approver), and the department a publisher or approver account works for."""

from __future__ import annotations

import sys
from typing import Any

import click

from hub.settings import get_settings

# mirrors api.pages.accounts.ROLES
ROLES = ("admin", "publisher", "issuer", "verifier", "approver")


def _accounts() -> Any:
    from api.pages.accounts import StaffAccounts
    from storage.library import engine_for

    settings = get_settings()
    settings.ensure_dirs()
    return StaffAccounts(engine_for(settings.db_url))


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True))


@click.group()
def staff() -> None:
    """Staff accounts for the web pages (passwords kept only as argon2id hashes)."""


@staff.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "display_name", default="", help="name shown on the pages")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def add(username: str, role: str, display_name: str, password_stdin: bool) -> None:
    """Create the account USERNAME with ROLE (the password is asked for twice)."""
    from api.pages.accounts import AccountError

    try:
        made = _accounts().add(username, role, _password(password_stdin), display_name)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {made.username} ({made.role})")


@staff.command("list")
def list_() -> None:
    """Every account with its role and department (never a password or hash)."""
    accounts = _accounts()
    rows = accounts.list()
    if not rows:
        click.echo("no staff accounts yet (hub staff add NAME --role admin)")
    bound = _bindings(accounts.engine)
    for s in rows:
        state = "disabled" if s.disabled else "active"
        where = bound.department_of(s.username) or ("all" if s.role == "admin" else "-")
        click.echo(f"{s.username:<20} {s.role:<10} {state:<9} {s.display_name}  [{where}]")


def _bindings(engine: Any) -> Any:
    from storage.access_requests import AccessRequestStore

    return AccessRequestStore(engine)


@staff.command("department")
@click.argument("username")
@click.argument("department")
def department(username: str, department: str) -> None:
    """Bind USERNAME (a publisher or approver) to DEPARTMENT (any unique part of its name):
    its pages show only that department's rejections, findings and disputes (approvers: the
    access requests it decides)."""
    from hub.commands.access import resolve_department

    accounts = _accounts()
    found = accounts.get(username)
    if found is None:
        raise click.ClickException(f"no staff account {username!r} (see `hub staff list`)")
    if found.role not in ("publisher", "approver"):
        raise click.ClickException(
            f"{username!r} is {found.role}: only publisher and approver accounts work for one "
            "department"
        )
    name = resolve_department(department)
    _bindings(accounts.engine).bind(username, name)
    click.echo(f"{username} ({found.role}) works for {name}")


@staff.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
def passwd(username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME; the account's open sessions end."""
    from api.pages.accounts import AccountError

    try:
        _accounts().set_password(username, _password(password_stdin))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password changed for {username}; its sessions have ended")


@staff.command("disable")
@click.argument("username")
@click.option("--enable", is_flag=True, help="re-enable the account instead")
def disable(username: str, enable: bool) -> None:
    """Disable (or --enable) USERNAME; a disabled account cannot sign in."""
    from api.pages.accounts import AccountError

    try:
        _accounts().set_disabled(username, not enable)
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{username} {'enabled' if enable else 'disabled'}")
