"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

Handlers raise :class:`Problem` (or let FastAPI raise its own HTTP and validation errors); the
handlers installed by :func:`install` turn all of them into the same documented shape, so client
systems parse one error format. Messages never carry personal data (no ID numbers, no names).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://hub.example.gov.cn/problems/"

_TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class ProblemDetails(BaseModel):
    """An RFC 9457 problem: ``type`` names the kind of error, ``detail`` says what to do."""

    type: str = Field(examples=[PROBLEM_BASE + "not-granted"])
    title: str = Field(examples=["Forbidden"])
    status: int = Field(examples=[403])
    detail: str = Field(
        default="",
        examples=["client 'approvals-a' has no grant for field 'phone' for purpose 'social-aid'"],
    )
    instance: str | None = Field(
        default=None,
        examples=["/v1/persons/{id}"],
        description="the route template, or a request id (never the path with its ID numbers)",
    )
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="validation errors (422 only)"
    )


class Problem(Exception):
    """Raise from a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.title = title or _TITLES.get(status, "Error")
        self.headers = headers or {}


def problem_body(
    status: int, kind: str, detail: str, *, title: str | None = None, instance: str | None = None
) -> dict[str, Any]:
    """The JSON body of a problem (used by the handlers and by the rate limiter)."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind,
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    return body


def instance(scope: Any) -> str:
    """What a problem's ``instance`` names: the route template (``/v1/persons/{id}``), never
    the raw path (paths hold ID numbers and USCCs); a request id where no route matched."""
    import uuid

    route = getattr(scope.get("route"), "path", None)
    return route if isinstance(route, str) else f"urn:uuid:{uuid.uuid4()}"


def problem_response(
    scope: Any, status: int, kind: str, detail: str, headers: dict[str, str] | None = None
) -> Any:
    """A problem answer built outside the exception handlers (the gateway middleware)."""
    from fastapi.responses import JSONResponse

    body = problem_body(status, kind, detail, instance=instance(scope))
    return JSONResponse(body, status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem answers for ``statuses``."""
    return {
        s: {
            "model": ProblemDetails,
            "description": _TITLES.get(s, "Error"),
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
        for s in statuses
    }


def install(app: Any) -> None:
    """Register the handlers that turn every error into a problem document."""
    from fastapi import Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    def _answer(request: Request, status: int, body: dict[str, Any], headers: Any = None) -> Any:
        body.setdefault("instance", instance(request.scope))
        return JSONResponse(body, status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)

    async def on_problem(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, Problem)
        body = problem_body(exc.status, exc.kind, exc.detail, title=exc.title)
        return _answer(request, exc.status, body, exc.headers)

    async def on_http(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, StarletteHTTPException)
        kind = _TITLES.get(exc.status_code, "error").lower().replace(" ", "-")
        if exc.status_code == 413:
            kind = "too-large"
        body = problem_body(exc.status_code, kind, str(exc.detail))
        return _answer(request, exc.status_code, body, getattr(exc, "headers", None))

    async def on_validation(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, RequestValidationError)
        # input values are left out on purpose: they may be ID numbers or names
        errors = [
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": e.get("msg", ""),
                "type": e.get("type", ""),
            }
            for e in exc.errors()
        ]
        body = problem_body(422, "invalid-request", "the request does not match the API schema")
        body["errors"] = errors
        return _answer(request, 422, body)

    async def on_error(request: Request, exc: Exception) -> Any:
        # the exception text may quote data: log only its type, answer a generic problem
        import logging

        # the route template, not the path: paths hold ID numbers and USCCs
        route = getattr(request.scope.get("route"), "path", "an unmatched path")
        logging.getLogger("api").error("unhandled %s on %s", type(exc).__name__, route)
        body = problem_body(500, "internal-error", "the server failed; the error was logged")
        return _answer(request, 500, body)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_error)
