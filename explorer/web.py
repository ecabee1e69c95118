"""The web explorer: server-rendered pages over one node's RPC, plus JSON twins
under /api (the front page polls /api/blocks to stay live). The node is called
from the server, so the browser needs no CORS and no access to the node."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from collections.abc import Callable

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aitbc.api.apps import app_options
from aitbc.rpc import ChainError, ChainRPC, NodeUnavailable
from aitbc.explorer import chain, network, pages
from aitbc.keyring import aitbc_home
from aitbc.logs import resolve_log_file, setup_logging

STATIC = Path(__file__).resolve().parent / "static"


class ExplorerSettings(BaseSettings):
    """AITBC_EXPLORER_* environment variables, then flags of `aitbc explorer serve`."""

    model_config = SettingsConfigDict(env_prefix="AITBC_EXPLORER_", extra="ignore", populate_by_name=True)

    node: str = Field("http://127.0.0.1:26657",
                      validation_alias=AliasChoices("node", "AITBC_EXPLORER_NODE", "AITBC_NODE"))
    host: str = "127.0.0.1"
    port: int = Field(18080, ge=0, le=65535)
    blocks: int = Field(20, ge=1, le=100, description="blocks on the front page")
    poll_ms: int = Field(2000, ge=250, description="how often the front page asks for new blocks")
    network_blocks: int = Field(100, ge=2, le=network.MAX_BLOCKS, description="blocks the network page plots")
    prometheus: str = Field("", description="Prometheus URL: the network page also plots its series")
    data_dir: Path = Field(default_factory=lambda: aitbc_home() / "explorer", description="explorer.log goes here")
    log_dir: Path | None = Field(None, description="explorer.log goes here instead [env: AITBC_LOG_DIR]")
    # Swagger UI loads its script and stylesheet from a public CDN: off unless asked for.
    docs: bool = Field(False, description="serve the API's Swagger UI at /api/docs (loads it from a CDN)")


# The pages need their own stylesheet, their own script and fetches of /api from it; nothing
# else, from nowhere else, and no framing (clickjacking).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# Swagger UI (when enabled) needs its CDN and one inline bootstrap script.
DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' data: https://fastapi.tiangolo.com; "
            "connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def get_rpc(request: Request) -> ChainRPC:
    return request.app.state.rpc


def get_settings(request: Request) -> ExplorerSettings:
    return request.app.state.settings


RpcDep = Annotated[ChainRPC, Depends(get_rpc)]
SettingsDep = Annotated[ExplorerSettings, Depends(get_settings)]


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status)


def create_app(settings: ExplorerSettings | None = None, rpc: ChainRPC | None = None) -> FastAPI:
    settings = settings or ExplorerSettings()
    docs_url = "/api/docs" if settings.docs else None
    app = FastAPI(**app_options(), title="AITBC explorer", version="0.1.0", docs_url=docs_url, redoc_url=None,
                  openapi_url="/api/openapi.json" if settings.docs else None)
    app.state.settings = settings
    app.state.rpc = rpc or ChainRPC(settings.node, timeout=10)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _security_headers(app, docs_url)
    _error_handlers(app, settings.node)
    _api_routes(app)
    _page_routes(app)
    return app


def _security_headers(app: FastAPI, docs_url: str | None) -> None:
    """CSP, no framing and no MIME sniffing on every answer, errors and static files included."""

    @app.middleware("http")
    async def add_headers(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = DOCS_CSP if request.url.path == docs_url else CSP
        response.headers.update(SECURITY_HEADERS)
        return response


def _error_handlers(app: FastAPI, node: str) -> None:
    def respond(request: Request, status: int, title: str, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=status)
        return _html(pages.error_page(title, message, node), status)

    @app.exception_handler(chain.NotFound)
    async def not_found(request: Request, exc: chain.NotFound) -> Response:
        return respond(request, 404, "Not found", str(exc))

    @app.exception_handler(NodeUnavailable)
    async def node_down(request: Request, exc: NodeUnavailable) -> Response:
        return respond(request, 502, "Node unreachable", str(exc))

    @app.exception_handler(ChainError)
    async def chain_error(request: Request, exc: ChainError) -> Response:
        return respond(request, 502, "The node answered with an error", str(exc))


def _api_routes(app: FastAPI) -> None:
    """JSON of exactly what the pages show."""

    def api(path: str, fetch: Callable[..., Any]) -> None:
        app.get(f"/api{path}", tags=["api"])(fetch)

    def blocks(rpc: RpcDep, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
        return chain.latest_blocks(rpc, limit)

    def status(rpc: RpcDep) -> dict[str, Any]:
        return chain.status(rpc)

    def block(rpc: RpcDep, height: int) -> dict[str, Any]:
        return chain.block(rpc, height)

    def tx(rpc: RpcDep, tx_hash: str) -> dict[str, Any]:
        return chain.tx(rpc, tx_hash)

    def job(rpc: RpcDep, job_id: str) -> dict[str, Any]:
        return chain.job(rpc, job_id)

    def receipt(rpc: RpcDep, ident: str) -> dict[str, Any]:
        return chain.receipt(rpc, ident)

    def account(rpc: RpcDep, address: str, limit: Annotated[int, Query(ge=1, le=100)] = 50) -> dict[str, Any]:
        return chain.account(rpc, address, limit)

    def miners(rpc: RpcDep) -> list[dict[str, Any]]:
        return chain.miners(rpc)

    def coordinators(rpc: RpcDep) -> list[dict[str, Any]]:
        return chain.coordinators(rpc)

    def network_data(rpc: RpcDep, blocks: Annotated[int, Query(ge=2, le=network.MAX_BLOCKS)] = 100) -> dict[str, Any]:
        return network.from_chain(rpc, blocks)

    def search(rpc: RpcDep, q: str) -> dict[str, Any]:
        kind, value = chain.classify(q)
        if kind == "query":
            return {"kind": kind, **chain.tx_search(rpc, value)}
        return {"kind": kind, "value": value, "href": f"/{kind}/{value}"}

    for path, fetch in (("/blocks", blocks), ("/status", status), ("/block/{height}", block), ("/tx/{tx_hash}", tx),
                        ("/job/{job_id}", job), ("/receipt/{ident}", receipt), ("/account/{address}", account),
                        ("/miners", miners), ("/coordinators", coordinators), ("/network", network_data),
                        ("/search", search)):
        api(path, fetch)


def _page_routes(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(rpc: RpcDep, settings: SettingsDep) -> HTMLResponse:
        return _html(pages.home(chain.latest_blocks(rpc, settings.blocks), settings.node, settings.poll_ms))

    @app.get("/block/{height}", response_class=HTMLResponse, include_in_schema=False)
    def block(rpc: RpcDep, settings: SettingsDep, height: int) -> HTMLResponse:
        return _html(pages.block_page(chain.block(rpc, height), settings.node))

    @app.get("/tx/{tx_hash}", response_class=HTMLResponse, include_in_schema=False)
    def tx(rpc: RpcDep, settings: SettingsDep, tx_hash: str) -> HTMLResponse:
        return _html(pages.tx_page(chain.tx(rpc, tx_hash), settings.node))

    @app.get("/job/{job_id}", response_class=HTMLResponse, include_in_schema=False)
    def job(rpc: RpcDep, settings: SettingsDep, job_id: str) -> HTMLResponse:
        return _html(pages.job_page(chain.job(rpc, job_id), settings.node))

    @app.get("/receipt/{ident}", response_class=HTMLResponse, include_in_schema=False)
    def receipt(rpc: RpcDep, settings: SettingsDep, ident: str) -> HTMLResponse:
        return _html(pages.receipt_page(chain.receipt(rpc, ident), settings.node))

    @app.get("/account/{address}", response_class=HTMLResponse, include_in_schema=False)
    def account(rpc: RpcDep, settings: SettingsDep, address: str) -> HTMLResponse:
        return _html(pages.account_page(address, chain.account(rpc, address), settings.node))

    @app.get("/miners", response_class=HTMLResponse, include_in_schema=False)
    def miners(rpc: RpcDep, settings: SettingsDep) -> HTMLResponse:
        return _html(pages.miners_page(chain.miners(rpc), settings.node))

    @app.get("/coordinators", response_class=HTMLResponse, include_in_schema=False)
    def coordinators(rpc: RpcDep, settings: SettingsDep) -> HTMLResponse:
        return _html(pages.coordinators_page(chain.coordinators(rpc), settings.node))

    @app.get("/network", response_class=HTMLResponse, include_in_schema=False)
    def network_page(rpc: RpcDep, settings: SettingsDep) -> HTMLResponse:
        data = network.from_chain(rpc, settings.network_blocks)
        prometheus, problem = None, ""
        if settings.prometheus:
            try:
                prometheus = network.from_prometheus(settings.prometheus)
            except network.PrometheusUnavailable as err:  # the chain's view still stands
                problem = str(err)
        return _html(pages.network_page(data, settings.node, prometheus, problem))

    @app.get("/search", include_in_schema=False)
    def search(rpc: RpcDep, settings: SettingsDep, q: str = "") -> Response:
        try:
            kind, value = chain.classify(q)
        except chain.NotFound as err:
            return _html(pages.search_page(q, settings.node, error=str(err)), 404)
        if kind != "query":
            return RedirectResponse(f"/{kind}/{value}", status_code=303)
        try:
            found = chain.tx_search(rpc, value)
        except NodeUnavailable:
            raise
        except ChainError as err:  # a malformed query is the user's, not the node's, fault
            return _html(pages.search_page(q, settings.node, error=str(err)), 400)
        return _html(pages.search_page(value, settings.node, found))


def run(settings: ExplorerSettings) -> None:
    """Serve until Ctrl-C."""
    import uvicorn

    setup_logging("explorer", resolve_log_file(settings.data_dir / "explorer.log", settings.log_dir))
    # log_config=None: uvicorn's records go to our handlers (the rotating explorer.log too)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="warning", log_config=None)
