"""The department a publisher's page works for: what scopes the department's staff pages.

A publisher (or approver) account is bound to one department (``hub staff department USER
DEPT``); its pages show that department's rejected rows, findings and disputes only. ``admin``
sees every department's. A publisher bound to none sees nothing and is told how to be bound,
so an unbound account never sees another department's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.pages import web
from api.pages.accounts import Staff


@dataclass(frozen=True)
class Desk:
    """A staff member with the department they work for (None: admin, every department) and
    that department's datasets (None: every dataset)."""

    staff: Staff
    department: str | None
    datasets: frozenset[str] | None

    def sees(self, department: str) -> bool:
        return self.department is None or self.department == department


def department_of(request: Request, username: str) -> str | None:
    """The department ``username`` is bound to (``hub staff department``), or None."""
    from storage.access_requests import AccessRequestStore

    return AccessRequestStore(web.ingest_hub(request).library.engine).department_of(username)


def desk_of(request: Request, staff: Staff) -> Desk:
    """The staff member's desk; a 403 page for a non-admin bound to no department."""
    if staff.role == "admin":
        return Desk(staff, None, None)
    department = department_of(request, staff.username)
    if department is None:
        raise web.PageExit(
            web.render(
                request,
                "error.html",
                {
                    "title_zh": "未绑定部门",
                    "title_en": "No department",
                    "message_zh": "此账号未绑定部门，管理员可执行 "
                    f"hub staff department {staff.username} 部门名称。",
                    "message_en": "This account works for no department yet: an administrator "
                    f"binds it with `hub staff department {staff.username} DEPARTMENT`.",
                },
                status_code=403,
            )
        )
    contracts = web.ingest_hub(request).contracts
    datasets = frozenset(ds for ds, c in contracts.items() if c.department == department)
    return Desk(staff, department, datasets)


def publisher_desk(request: Request, staff: web.Publisher) -> Desk:
    return desk_of(request, staff)


PublisherDesk = Annotated[Desk, Depends(publisher_desk)]
