"""FastAPI routes for the hottest endpoints that resolve their arguments themselves.

FastAPI solves a route's dependencies anew for every request: it walks the dependency
tree, computes cache keys, inspects each callable and validates each parameter. For a
job submission that was about a tenth of the coordinator's CPU, and the routing layers
around it as much again (docs/benchmarks.md, Coordinator intake); a miner streaming a
job's text calls its chunk route up to twenty times a second. `DirectRoute` keeps
everything FastAPI gives a route (its path, OpenAPI entry from the endpoint's signature,
the app's middleware and problem handlers) and only replaces the per-request handler:
the endpoint's arguments are read here in a fixed way, through the same functions the
dependencies use, so the rules stay where they are.

An endpoint served this way takes only arguments named in `ARGUMENTS` (the path's
`job_id: str`, the JSON `body` as the pydantic model it is annotated with, `coord:
CoordDep`, and the caller: `principal: PrincipalDep` for an API key or `miner: MinerDep`
for a signed request, not both), and no other dependency; the route refuses anything
else when it is built, since the handler would skip it. It returns a Response, or a
pydantic model sent as JSON with the route's status code. Its answers are FastAPI's, in
FastAPI's order (tests/unit/test_coordinator_direct_route.py compares them): the body is
read and its JSON parsed first (a body that is not JSON is a 400 whoever sends it, and
spends no rate-limit token), then the caller is checked, then the body is validated.
(The parser runs two frames deeper than in FastAPI: JSON nested within two levels of its
recursion limit, about 960, is a 400 here where FastAPI went on to check the caller.)
"""

from __future__ import annotations

import email.message
import functools
import inspect
import json
import typing
from typing import Any, Callable, Coroutine

import fastapi.routing
from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from aitbc.coordinator.http.deps import (
    authenticate_client, authenticate_miner, get_coordinator, require_api_key, require_miner,
)

ARGUMENTS = frozenset({"job_id", "body", "coord", "principal", "miner"})
_UNPARSED = "There was an error parsing the body"  # FastAPI's words


class DirectRoute(APIRoute):
    """An APIRoute whose endpoint gets its ARGUMENTS without dependency solving."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        names = frozenset(inspect.signature(endpoint).parameters)
        if not names <= ARGUMENTS or {"principal", "miner"} <= names:
            raise TypeError(f"DirectRoute serves endpoints of {sorted(ARGUMENTS)} (principal or miner), "
                            f"not {endpoint.__name__}{tuple(inspect.signature(endpoint).parameters)}")
        dependencies = _dependencies(self)
        if dependencies:  # its own, its router's or an include's: they would be skipped without a word
            raise TypeError(f"DirectRoute runs no dependencies; {endpoint.__name__} has {len(dependencies)}")
        model = _check_annotations(endpoint, names)
        status = self.status_code or 200

        async def handler(request: Request) -> Response:
            coord = request.app.state.coordinator
            args: dict[str, Any] = {}
            raw = await read_body(request) if model is not None or "miner" in names else b""
            value = decode_body(raw, request.headers.get("content-type")) if model is not None else None
            if "coord" in names:
                args["coord"] = coord
            if "principal" in names:
                args["principal"] = authenticate_client(request, coord, request.headers.get("x-api-key"))
            if "miner" in names:
                args["miner"] = authenticate_miner(request, coord, raw)
            if "job_id" in names:
                args["job_id"] = request.path_params["job_id"]
            if model is not None:
                args["body"] = validate_body(model, value)
            result = await endpoint(**args)
            if isinstance(result, Response):
                return result
            return Response(result.model_dump_json(), status_code=status, media_type="application/json")

        return handler


# The dependency each argument must be declared with: what the handler does in its place.
_RESOLVED_AS = {"coord": get_coordinator, "principal": require_api_key, "miner": require_miner}


def _check_annotations(endpoint: Callable, names: frozenset[str]) -> type[BaseModel] | None:
    """The body's model, once every argument is declared as the handler reads it (a name alone
    could hide another dependency, an admin key say, or a constraint on the path or body)."""
    hints = typing.get_type_hints(endpoint, include_extras=True)
    for name in names:
        hint = hints.get(name)
        extras = typing.get_args(hint)[1:] if typing.get_origin(hint) is typing.Annotated else ()
        calls = [getattr(extra, "dependency", None) for extra in extras]
        if name in _RESOLVED_AS:
            ok = calls == [_RESOLVED_AS[name]]
        elif name == "job_id":
            ok = hint is str
        else:  # body: a model, no Body(...) options
            ok = isinstance(hint, type) and issubclass(hint, BaseModel)
        if not ok:
            raise TypeError(f"DirectRoute cannot serve {endpoint.__name__}: its {name} is declared as {hint!r}")
    return hints["body"] if "body" in names else None


def _dependencies(route: APIRoute) -> list[Any]:
    """The dependencies FastAPI would run for `route`. FastAPI 0.16x builds the handler of a
    route in an included router with the include's dependencies in a context variable of
    fastapi.routing (read here if it is there), not on the route."""
    context = getattr(fastapi.routing, "_effective_route_context_var", None)
    effective = context.get(None) if context is not None else None
    return list(getattr(effective, "dependencies", None) or route.dependencies)


def direct(router: APIRouter, method: str, path: str, **options: Any) -> Callable[[Callable], Callable]:
    """`@router.post(path, **options)` (or another method), served by a DirectRoute."""
    def register(endpoint: Callable) -> Callable:
        router.add_api_route(path, endpoint, methods=[method], route_class_override=DirectRoute, **options)
        return endpoint

    return register


async def read_body(request: Request) -> bytes:
    """The request's body; 400 when it cannot be read (the client went away mid-body), as
    FastAPI answers, not an unhandled error."""
    try:
        return await request.body()
    except HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - FastAPI's answer to any failure reading a body
        raise HTTPException(400, _UNPARSED) from exc


_MISSING = object()  # an empty body: FastAPI's "Field required", found when the body is validated


def decode_body(raw: bytes, content_type: str | None) -> Any:
    """What FastAPI makes of a JSON body parameter's bytes before it solves the route's
    dependencies: parsed as JSON only when the request says it is JSON (FastAPI's strict
    content type), else the bytes; RequestValidationError ("body", position) for JSON that
    does not parse, 400 for JSON the parser gives up on (nested too deep, an integer too long)."""
    if not raw:
        return _MISSING
    if not (content_type and _is_json(content_type)):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}]) from None
    except Exception as exc:  # noqa: BLE001 - RecursionError, ValueError, UnicodeDecodeError: FastAPI's 400
        raise HTTPException(400, _UNPARSED) from exc


def validate_body(model: type[BaseModel], value: Any) -> Any:
    """decode_body's `value` as `model`, validated in Python mode as FastAPI does; else
    RequestValidationError with the locations FastAPI gives ("body", ...)."""
    if value is _MISSING:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return model.model_validate(value, from_attributes=True)  # as FastAPI validates it
    except ValidationError as exc:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])}
                                      for err in exc.errors(include_url=False)]) from None


@functools.lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    """Whether FastAPI reads a body of this content type as JSON (with the same parser).
    Cached: clients send a handful of content types, and the email parser cost about 8 µs
    per request (docs/benchmarks.md, Coordinator intake)."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))
