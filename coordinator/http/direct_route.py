"""A FastAPI route for the hottest endpoint (POST /v1/jobs) that resolves its arguments itself.

FastAPI solves a route's dependencies anew for every request: it walks the dependency
tree, computes cache keys, inspects each callable and validates each parameter. For a
job submission that was about a tenth of the coordinator's CPU, and the routing layers
around it as much again (docs/benchmarks.md, Coordinator intake). `DirectRoute` keeps
everything FastAPI gives the route (its path, OpenAPI entry from the endpoint's
signature, the app's middleware and problem handlers) and only replaces the per-request
handler: the endpoint's three arguments are read here in a fixed way, through the same
functions the dependencies use, so the rules stay where they are.

An endpoint served this way takes exactly `body` (a pydantic model, the JSON body),
`coord` (CoordDep) and `principal` (PrincipalDep), and returns a Response. Its answers are
FastAPI's (tests/unit/test_coordinator_direct_route.py compares them) but for one order:
the API key is checked before the body is read, so a caller with a wrong key gets 401
even for a body that is not JSON, where FastAPI parsed the body first and answered 400.
"""

from __future__ import annotations

import inspect
import json
import typing
from typing import Any, Callable, Coroutine

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from aitbc.coordinator.http.deps import authenticate_client

_ARGUMENTS = ("body", "coord", "principal")


class DirectRoute(APIRoute):
    """An APIRoute whose endpoint gets (body, coord, principal) without dependency solving."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        params = tuple(inspect.signature(endpoint).parameters)
        if params != _ARGUMENTS:
            raise TypeError(f"DirectRoute serves endpoints of {_ARGUMENTS}, not {endpoint.__name__}{params}")
        model = typing.get_type_hints(endpoint)["body"]

        async def handler(request: Request) -> Response:
            coord = request.app.state.coordinator
            principal = authenticate_client(request, coord, request.headers.get("x-api-key"))
            body = parse_body(model, await request.body(), request.headers.get("content-type"))
            return await endpoint(body=body, coord=coord, principal=principal)

        return handler


def parse_body(model: type[BaseModel], raw: bytes, content_type: str | None) -> Any:
    """`raw` as `model`, read as FastAPI reads a JSON body parameter: parsed as JSON only when
    the request says it is JSON (FastAPI's strict content type), validated in Python mode;
    else RequestValidationError with the same locations FastAPI gives ("body", ...)."""
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    value: Any = raw
    if content_type and _is_json(content_type):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                           "input": {}, "ctx": {"error": exc.msg}}]) from None
        except UnicodeDecodeError:
            raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error",
                                           "input": {}}]) from None
    try:
        return model.model_validate(value, from_attributes=True)  # as FastAPI validates it
    except ValidationError as exc:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])}
                                      for err in exc.errors(include_url=False)]) from None


def _is_json(content_type: str) -> bool:
    main = content_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or (main.startswith("application/") and main.endswith("+json"))
