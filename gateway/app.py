"""The gateway's HTTP app: OpenAI's /v1/chat/completions, /v1/completions and /v1/models.

Routes only translate HTTP; the logic is core.Gateway. Routes are plain `def`
(the coordinator client is synchronous; FastAPI runs them in its thread pool,
and a stream's generator too). Every error answer is OpenAI's error shape.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aitbc.api.apps import app_options
from aitbc.gateway.core import Gateway
from aitbc.gateway.errors import GatewayError
from aitbc.gateway.mapping import JobSpec, chat_job, completion_job
from aitbc.gateway.openai_models import (
    ChatCompletionRequest, CompletionRequest, ErrorBody, ErrorDetail, Model, ModelList, ModelPricing,
)
from aitbc.gateway.render import answer_object, dump, stream_events

JOB_ID_HEADER = "x-aitbc-job-id"
RECEIPT_ID_HEADER = "x-aitbc-receipt-id"


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


def create_app(gateway: Gateway) -> FastAPI:
    app = FastAPI(**app_options(), title="AITBC gateway", version="0.1.0",
                  description="OpenAI-compatible API; each request is one marketplace job paid by this gateway's key.")
    app.state.gateway = gateway
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)

    @app.get("/v1/models", response_model=ModelList)
    def list_models(gw: GatewayDep) -> ModelList:
        return ModelList(data=[Model(id=o.model, aitbc=ModelPricing(price_per_second=o.price_per_second,
                                                                    miners=o.miners, online=o.online))
                               for o in gw.models(fresh=True)])

    @app.get("/v1/models/{model:path}", response_model=Model)
    def get_model(model: str, gw: GatewayDep) -> Model:
        gw.check_model(model)
        offer = next(o for o in gw.models() if o.model == model)
        return Model(id=offer.model, aitbc=ModelPricing(price_per_second=offer.price_per_second,
                                                        miners=offer.miners, online=offer.online))

    @app.post("/v1/chat/completions")
    def chat_completions(body: ChatCompletionRequest, gw: GatewayDep) -> Any:
        return _run(gw, chat_job(body))

    @app.post("/v1/completions")
    def completions(body: CompletionRequest, gw: GatewayDep) -> Any:
        return _run(gw, completion_job(body))

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _run(gw: Gateway, spec: JobSpec) -> JSONResponse | StreamingResponse:
    if spec.stream:
        # Submitted before the response starts, so a refused job is a plain error answer.
        job_id = gw.submit(spec)
        return StreamingResponse(stream_events(gw, spec, job_id), media_type="text/event-stream",
                                 headers={JOB_ID_HEADER: job_id, "Cache-Control": "no-cache"})
    answer = gw.complete(spec)
    return JSONResponse(dump(answer_object(spec, answer)),
                        headers={JOB_ID_HEADER: answer.job_id, RECEIPT_ID_HEADER: answer.receipt_id})


def _error(status: int, message: str, type_: str, param: str | None = None, code: str | None = None,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(message=message, type=type_, param=param, code=code))
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


async def _gateway_error(_request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, GatewayError)
    headers = {JOB_ID_HEADER: err.job_id} if err.job_id else None
    return JSONResponse(err.body().model_dump(mode="json"), status_code=err.status, headers=headers)


async def _validation_error(_request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, RequestValidationError)
    first = err.errors()[0] if err.errors() else {}
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc).lstrip(".") or None
    message = f"{param}: {first.get('msg', 'invalid request')}" if param else first.get("msg", "invalid request")
    if len(err.errors()) > 1:
        message += f" (and {len(err.errors()) - 1} more problems)"
    return _error(400, message, "invalid_request_error", param, "invalid_value")


async def _http_error(_request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, StarletteHTTPException)
    code = {404: "unknown_url", 405: "method_not_allowed"}.get(err.status_code)
    return _error(err.status_code, str(err.detail), "invalid_request_error", code=code,
                  headers=getattr(err, "headers", None))
