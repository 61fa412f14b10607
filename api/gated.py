"""Gated operations answered without FastAPI's dependency solving (same checks, same audit)."""

from __future__ import annotations

import email.message
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException, Request, Response, params
from fastapi.dependencies.utils import (  # type: ignore[attr-defined]  # not re-exported
    get_missing_field_error,
    request_body_to_args,
)
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from api.deps import admit, conclude
from api.state import hub_state


class GatedOperation:
    """The ASGI app of a gated operation whose inputs are path and query parameters and at most
    one JSON body (and the hub's state): the gate (:func:`admit`, :func:`conclude`) and the
    parameter checks run in one plain call instead of FastAPI's per-request dependency solving
    (exit stacks, an async generator, an annotation walk per parameter), which cost more than
    the gate itself.

    Same behaviour as the route through :func:`gate`: the body read and decoded as FastAPI
    does (a JSON error is a 422 before the gate, as there), parameters and body validated by
    the same pydantic fields (422 problems with the same locations) after the gate, the audit
    row committed before the answer, errors handled by the app's exception handlers.
    :meth:`for_route` returns None for any operation it does not cover (forms, an embedded
    body, headers, other dependencies, a sync handler), which keeps FastAPI's own handling; so
    does an app with ``dependency_overrides`` set.
    """

    def __init__(self, route: APIRoute, scope: str, access_param: str) -> None:
        self.route = route
        self.scope = scope
        self.path = route.path_format
        self.access_param = access_param
        self.endpoint: Callable[..., Awaitable[Any]] = route.endpoint
        self.standard = route.app  # FastAPI's own handling, for dependency overrides
        dependant = route.dependant
        self.path_fields = [(f.name, f.alias, f, ("path", f.alias)) for f in dependant.path_params]
        self.query_fields = list(dependant.query_params)
        self.query_defaults = {}
        for f in self.query_fields:
            if not f.field_info.is_required():
                self.query_defaults[f.name] = f.default
        self.body_fields = list(dependant.body_params)
        self.state_params = [dep.name for dep in dependant.dependencies if dep.call is hub_state]

    @classmethod
    def for_route(cls, route: Any) -> GatedOperation | None:
        """The fast handling of ``route``, or None if it is not a plain gated operation."""
        from fastapi.datastructures import DefaultPlaceholder

        if not isinstance(route, APIRoute):
            return None
        d = route.dependant
        gates = [dep for dep in d.dependencies if getattr(dep.call, "gate", False)]
        others = [dep for dep in d.dependencies if not getattr(dep.call, "gate", False)]
        if len(gates) != 1 or any(dep.call is not hub_state or not dep.name for dep in others):
            return None
        gate_dep = gates[0]
        if gate_dep.scope != "function" or not gate_dep.name:
            return None
        embedded = getattr(route, "_embed_body_fields", True)
        if (
            d.header_params
            or d.cookie_params
            or len(d.body_params) > 1
            or (d.body_params and (embedded or route.body_field is None))
            or (d.body_params and isinstance(route.body_field.field_info, params.Form))
            or d.request_param_name
            or d.websocket_param_name
            or d.http_connection_param_name
            or d.response_param_name
            or d.background_tasks_param_name
            or d.security_scopes_param_name
            or not d.is_coroutine_callable
            or not isinstance(route.response_class, DefaultPlaceholder)
            or any(not f.field_info.is_required() for f in d.path_params)
            or any(
                f.default is not None and not isinstance(f.default, (str, int, float, bool))
                for f in d.query_params
            )
        ):
            return None
        return cls(route, getattr(gate_dep.call, "scope"), gate_dep.name)  # noqa: B009

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive, send)
        if request.app.dependency_overrides:
            await self.standard(scope, receive, send)
            return
        try:
            response = await self._respond(request)
        except Exception as exc:
            # the app's exception handlers answer, exactly as for FastAPI's own routes
            from starlette._exception_handler import wrap_app_handling_exceptions

            error = exc

            async def reraise(_scope: Any, _receive: Any, _send: Any) -> None:
                raise error

            await wrap_app_handling_exceptions(reraise, request)(scope, receive, send)
            return
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> Response:
        body = await self._body(request) if self.body_fields else None
        access = await admit(request, self.scope, self.path)
        try:
            values, errors = self._parameters(request)
            if self.body_fields:
                found, body_errors = await request_body_to_args(self.body_fields, body, False)
                values.update(found)
                errors.extend(body_errors)
            if errors:  # all of them at once, as FastAPI reports them
                raise RequestValidationError(errors, body=body)
            for name in self.state_params:
                values[name] = request.app.state.hub
            values[self.access_param] = access
            response = await self.endpoint(**values)
            if not isinstance(response, Response):
                response = await self._serialise(response)
        except Exception as exc:
            await conclude(request, self.path, access, exc)
            raise
        await conclude(request, self.path, access, None)
        return response

    @staticmethod
    async def _body(request: Request) -> Any:
        """The request body as FastAPI's own handler reads it: JSON when the content type says
        so (or none is given), else the raw bytes (which the model then refuses)."""
        try:
            raw = await request.body()
            if not raw:
                return None
            kind = request.headers.get("content-type")
            if kind:
                message = email.message.Message()
                message["content-type"] = kind
                sub = message.get_content_subtype()
                if message.get_content_maintype() != "application" or not (
                    sub == "json" or sub.endswith("+json")
                ):
                    return raw
            return await request.json()
        except json.JSONDecodeError as exc:
            error = {
                "type": "json_invalid",
                "loc": ("body", exc.pos),
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": exc.msg},
            }
            raise RequestValidationError([error], body=exc.doc) from exc
        except HTTPException:
            raise
        except Exception as exc:
            raise HTTPException(400, "There was an error parsing the body") from exc

    def _parameters(self, request: Request) -> tuple[dict[str, Any], list[Any]]:
        """The path and query parameters' values, and their validation errors."""
        values: dict[str, Any] = {}
        errors: list[Any] = []
        given = request.scope["path_params"]
        for name, alias, f, loc in self.path_fields:
            value, errs = f.validate(given[alias], values, loc=loc)
            if errs:
                errors.extend(errs)
            else:
                values[name] = value
        if self.query_fields:
            if request.scope.get("query_string"):
                from fastapi.dependencies.utils import request_params_to_args

                found, errs = request_params_to_args(self.query_fields, request.query_params)
                values.update(found)
                errors.extend(errs)
            else:
                values.update(self.query_defaults)
                errors.extend(
                    get_missing_field_error(("query", f.alias))
                    for f in self.query_fields
                    if f.name not in self.query_defaults
                )
        return values, errors

    async def _serialise(self, content: Any) -> Response:
        from fastapi.routing import serialize_response

        route = self.route
        body = await serialize_response(
            field=route.response_field,
            response_content=content,
            include=route.response_model_include,
            exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias,
            exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none,
            dump_json=route.response_field is not None,
        )
        if route.response_field is None:
            from fastapi.responses import JSONResponse

            return JSONResponse(body, route.status_code or 200)
        return Response(body, route.status_code or 200, media_type="application/json")
