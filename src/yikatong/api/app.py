"""The FastAPI application; each domain's `api.router` is mounted under /api/v1 and its
`web.router` (pages for people: yikatong.pages) at the site root, with the pages' static
files under /static."""

from __future__ import annotations

import contextlib
import importlib
import logging
import pkgutil

from anyio import to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException

import yikatong
from yikatong import observability
from yikatong.api import lean, lean_posts, middleware, problems
from yikatong.api.deps import authorize, route_access
from yikatong.api.docs_ui import mount_docs
from yikatong.core.choices import expected_choices
from yikatong.core.errors import ConcurrentChange, DomainError, InvalidInput
from yikatong.db.engine import POOL_SIZE
from yikatong.db.uow import is_audit_collision
from yikatong.medical import fhir_api
from yikatong.medical import interface as medical_interface
from yikatong.pages import sessions as page_sessions
from yikatong.pages.errors import page_error, wants_page
from yikatong.pages.rendering import STATIC_FOLDER, STATIC_PREFIX
from yikatong.platform import Platform

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
HEALTHY = {"status": "ok"}  # what GET /healthz answers

class RouteNotFound(DomainError):
    code = "route_not_found"
    http_status = 404
    zh = "没有这个接口"
    en = "No such endpoint"


class MethodNotAllowed(DomainError):
    code = "method_not_allowed"
    http_status = 405
    zh = "该接口不支持此请求方法"
    en = "This endpoint does not support this method"


class HttpError(DomainError):
    code = "http_error"
    zh = "请求未能处理（HTTP {status}）"
    en = "The request could not be handled (HTTP {status})"


class InternalError(DomainError):
    code = "internal_error"
    http_status = 500
    zh = "服务器内部错误，请稍后重试"
    en = "Internal server error; please try again later"


@contextlib.asynccontextmanager
async def _serving(_app: FastAPI):
    """While serving: at most as many threads at once as the connection pool keeps
    connections (db.engine.POOL_SIZE), so that a sync route's thread finds a pooled connection
    instead of opening one, and the others wait on the event loop for a thread. A server
    process's start-up heap is frozen out of the garbage collector's sight (`settle_heap`)."""
    to_thread.current_default_thread_limiter().total_tokens = POOL_SIZE
    if getattr(_app.state, "settle_heap", False):
        from yikatong.api.serving import settle_heap

        settle_heap()
    yield


def create_app(platform: Platform | None = None, *, settle_heap: bool = False) -> FastAPI:
    """The application on `platform` (else one from the environment); `settle_heap`: for a
    server process that keeps it until it ends (`ykt serve`): its start-up objects are frozen
    out of the garbage collector's sight once it starts (api.serving.settle_heap)."""
    app = FastAPI(
        lifespan=_serving,
        title="Yikatong 江苏（常州）一卡通",
        version=yikatong.__version__,
        description="Issue and run the Jiangsu (Changzhou) One Card / 一卡通发卡与运营平台",
        openapi_url="/openapi.json",
        docs_url=None,  # /docs and /redoc with local assets: docs_ui.mount_docs
        redoc_url=None,
        # Every route goes through the access table (yikatong.auth.access): deny by default.
        dependencies=[Depends(authorize)],
    )
    mount_docs(app)
    app.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_FOLDER), name="page-assets")
    app.state.platform = platform or Platform()
    app.state.settle_heap = settle_heap
    middleware.install(app)  # body limits and security headers, around everything
    page_sessions.install(app, app.state.platform.settings)  # CSRF on every page form
    if app.state.platform.settings.is_production:
        from yikatong.startup import check_startup

        check_startup(app.state.platform)  # StartupRefused names each missing or bad setting
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    # A concurrent writer can also be noticed at an autoflush, before the unit of work's
    # commit turns it into ConcurrentChange: the same 409 either way.
    app.add_exception_handler(StaleDataError, lambda request, _error: _domain_error(
        request, ConcurrentChange()))
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(HTTPException, _http_error)  # routing: no such path or method
    app.add_exception_handler(Exception, _internal_error)  # still logged with its traceback
    production = app.state.platform.settings.is_production

    # First in the route table (a request is matched against the routes in order) and on the
    # event loop (async: no thread-pool hop): a load balancer asks this many times a second.
    # Its GET is answered by lean.LeanConstant (installed below) with the bytes this route
    # answers; the route itself stays for the other methods (405) and the access table.
    @app.get("/healthz", include_in_schema=False)
    async def health() -> dict[str, str]:
        return dict(HEALTHY)

    [health_route] = [route for route in app.router.routes if getattr(route, "endpoint", None) is health]

    # /readyz and /metrics beside it, and the request metrics around everything (observability).
    observability.install(app)

    # A domain's hottest pages (its web.py's `hot_router`: the holder's home page) are matched
    # before the API's routes: a request is matched against the routes in order, and no page
    # path can match an /api/v1 route, so only the time to find them changes.
    for router in _domain_routers("web", attribute="hot_router"):
        app.include_router(router)
    for router in _domain_routers("api", production=production):
        app.include_router(router, prefix="/api/v1")
    app.include_router(fhir_api.router)  # the medical FHIR R4B door, at its own root
    if not production:  # the development clock names its time while moved
        from yikatong.devclock.api import NameMovedClock

        app.add_middleware(NameMovedClock)
    for router in _domain_routers("web"):  # pages for people, at the site root
        app.include_router(router)

    app.state.route_access = route_access(app)  # after every route is in place
    lean.install(app)  # the hot reads answered without FastAPI's dependency solving
    lean.install_constant(app, health_route, HEALTHY)  # GET /healthz without the machinery
    medical_interface.install_lean_door(app)  # the hospitals' door likewise (medical.interface)
    lean_posts.install(app)  # the marked POST doors' refusals raised in front of their routes
    problems.install(app)  # the error answers in the OpenAPI document, as they really are
    fhir_api.install(app)  # ...and under the FHIR door's root, as OperationOutcome
    lean.install_front(app)  # last: the lean reads' and POST doors' answers in front of every layer
    return app


def worker_app() -> FastAPI:
    """The application of one `ykt serve --workers N` process: its own platform from the
    environment (real clock, own connection pool), the access-log masking of its own loggers.
    Everything the workers share lives in the database: credentials and their revocation
    (looked up per request), throttle counters, idempotency records, the outbox."""
    from yikatong.api import logging as access_logging

    access_logging.install()
    return create_app(settle_heap=True)


def _domain_routers(room: str, *, production: bool = False, attribute: str = "router"):
    """The `router` (or the router named `attribute`, where it has one) of every domain's
    `api.py` (REST) or `web.py` (HTML pages); in production not those marked
    `DEVELOPMENT_ONLY` (the development clock)."""
    for module in sorted(pkgutil.iter_modules(yikatong.__path__), key=lambda m: m.name):
        if not module.ispkg or module.name == "api":
            continue
        name = f"yikatong.{module.name}.{room}"
        try:
            domain_api = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        if production and getattr(domain_api, "DEVELOPMENT_ONLY", False):
            continue
        if hasattr(domain_api, attribute):
            yield getattr(domain_api, attribute)


def _domain_error(request: Request, error: DomainError):
    if wants_page(request):
        return page_error(request, error)
    return JSONResponse(error.to_problem(), status_code=error.http_status, media_type=PROBLEM,
                        headers=error.http_headers())


def _validation_error(request: Request, error: RequestValidationError):
    fields = ["/".join(str(part) for part in e["loc"]) + f": {e['msg']}" for e in error.errors()]
    refusal = InvalidInput(reason_zh="请求格式不正确（" + "；".join(fields) + "）",
                           reason_en="malformed request (" + "; ".join(fields) + ")")
    if wants_page(request):
        return page_error(request, refusal)
    problem = refusal.to_problem()
    problem.update(_choices_refused(error.errors()))
    return JSONResponse(problem, status_code=422, media_type=PROBLEM)


def _choices_refused(errors: list[dict]) -> dict:
    """An enum or literal field with another value: `details.allowed` lists the valid codes
    (of the first such field, named in `details.field`), as a domain refusal of a choice does."""
    for e in errors:
        if e.get("type") in ("enum", "literal_error") and "expected" in e.get("ctx", {}):
            return {"details": {"field": "/".join(str(part) for part in e["loc"]),
                                "allowed": expected_choices(e["ctx"]["expected"])}}
    return {}


def _http_error(request: Request, error: HTTPException):
    problem = {404: RouteNotFound, 405: MethodNotAllowed}.get(error.status_code)
    if problem and wants_page(request):
        return page_error(request, problem())
    body = problem().to_problem() if problem else HttpError(status=error.status_code).to_problem()
    body["status"] = error.status_code
    return JSONResponse(body, status_code=error.status_code, media_type=PROBLEM, headers=error.headers)


def _integrity_error(request: Request, error: IntegrityError) -> JSONResponse:
    """Two writers recorded a change of one entity at once, seen at a flush: 409 as at the
    commit (UnitOfWork.commit). Any other constraint failure is a bug: 500, logged."""
    if is_audit_collision(error):
        return _domain_error(request, ConcurrentChange())
    log.error("unexpected integrity error", exc_info=error)
    return _internal_error(request, error)


def _internal_error(_request: Request, _error: Exception) -> JSONResponse:
    return JSONResponse(InternalError().to_problem(), status_code=500, media_type=PROBLEM)
