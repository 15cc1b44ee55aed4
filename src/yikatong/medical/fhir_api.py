"""The FHIR R4B door (issue 13, "Beside it, a FHIR door"): Coverage, CoverageEligibilityRequest
/ Response, Claim and ClaimResponse for the same visits the national interface settles, under
`/api/fhir/r4b`, in `application/fhir+json`, every error an OperationOutcome.

The routes read the posted resource (`medical.fhir`), call the medical services
(`medical.service`, `medical.visits`: the same functions the national interface calls, so no
rule has a second copy here) and answer with the resource `medical.fhir` builds from what the
services return. Who may call: a designated institution (its own patients' visits only: a
Claim names it as provider, a ClaimResponse of another institution is not found) and the
medical insurance office (reads and benefit checks); the access table (auth.access) says so.

`install(app)` makes every error answer under the door's root an OperationOutcome (the
platform's problem answers, wherever they come from: the access check, a domain refusal, the
body limit, routing) and documents them so in the OpenAPI document. See docs/medical-fhir.md.
"""

from __future__ import annotations

import json
from typing import Any, Final

from fastapi import APIRouter, Depends, FastAPI, Form, Path, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import yikatong
from yikatong.api.deps import current_actor, platform_dep
from yikatong.api.problems import problems
from yikatong.core.actor import Actor
from yikatong.medical import fhir, fhir_door
from yikatong.platform import Platform

ROOT: Final = "/api/fhir/r4b"
PROBLEM: Final = b"application/problem+json"

router = APIRouter(prefix=ROOT, tags=["FHIR R4B / 医保 FHIR 接口"])


# --- the OpenAPI document ---------------------------------------------------------------------

def _resource_schema(*types: str) -> dict[str, Any]:
    """A FHIR resource of one of `types` (the full R4B schema is the FHIR specification's; the
    document names the type and leaves the rest to it)."""
    return {"type": "object", "required": ["resourceType"], "additionalProperties": True,
            "properties": {"resourceType": {"type": "string", "enum": list(types)}}}


OPERATION_OUTCOME_SCHEMA: Final = {
    "title": "OperationOutcome",
    "description": "FHIR R4B OperationOutcome: issue[0].details.coding carries the platform's "
                   "stable error code (" + fhir.Cs.ERROR + ") and, for an access refusal, its "
                   "reason (" + fhir.Cs.ERROR_REASON + "); details.text is Chinese / English.",
    **_resource_schema("OperationOutcome"),
}


def _answers(resource_type: str, *errors: int) -> dict[int | str, dict[str, Any]]:
    """The success answer, and the error statuses beyond what the route's facts imply
    (api.problems): 404 where the acting institution or the person may be unknown, 409 where
    a credential may be refused (a card under loss) or a settlement's state conflicts."""
    return {200: {"description": f"{resource_type} (FHIR R4B)",
                  "content": {fhir.FHIR_JSON: {"schema": _resource_schema(resource_type)}}},
            **problems(*errors)}


def _body(resource_type: str) -> dict[str, Any]:
    schema = _resource_schema(resource_type)
    return {"requestBody": {"required": True, "description": f"A FHIR R4B {resource_type}",
                            "content": {fhir.FHIR_JSON: {"schema": schema},
                                        "application/json": {"schema": schema}}}}


def fhir_response(resource: Any, status_code: int = 200) -> Response:
    return Response(fhir.to_json(resource), status_code=status_code, media_type=fhir.FHIR_JSON)


# --- routes --------------------------------------------------------------------------------------


@router.get("/metadata", response_class=Response, responses=_answers("CapabilityStatement"),
            summary="What this FHIR server serves (CapabilityStatement) / 接口能力说明")
async def metadata(request: Request):
    platform: Platform = request.app.state.platform
    statement = fhir.capability_statement(
        base_url=str(request.base_url).rstrip("/") + ROOT, software_version=yikatong.__version__,
        date_text=platform.clock.now().date().isoformat())
    return fhir_response(statement)


@router.post("/Claim", response_class=Response, responses=_answers("ClaimResponse", 404),
             openapi_extra=_body("Claim"),
             summary="Settle an outpatient or pharmacy visit (or cancel it) / 结算或撤销一次就诊")
async def post_claim(request: Request, actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    body = await request.body()
    return await _in_thread(fhir_door.submit_claim, platform=platform, actor=actor, body=body)


@router.get("/ClaimResponse/{claim_response_id}", response_class=Response,
            responses=_answers("ClaimResponse", 404), summary="A settlement / 结算结果")
def get_claim_response(claim_response_id: str = Path(min_length=1, max_length=30),
                       actor: Actor = Depends(current_actor),
                       platform: Platform = Depends(platform_dep)):
    return fhir_response(fhir_door.read_claim_response(platform=platform, actor=actor,
                                                       claim_response_id=claim_response_id))


IDENTIFIER_HELP: Final = ("system|value: the patient's credential, system one of "
                          f"{', '.join(fhir.CERT_TYPES)}")


@router.get("/Coverage", response_class=Response, responses=_answers("Bundle", 404, 409),
            summary="A person's enrolments, by credential / 按就诊凭证查询参保信息")
def search_coverage(identifier: str = Query(min_length=3, max_length=600,
                                            description=IDENTIFIER_HELP),
                    actor: Actor = Depends(current_actor),
                    platform: Platform = Depends(platform_dep)):
    return _coverage_bundle(platform, actor, identifier)


@router.post("/Coverage/_search", response_class=Response,
             responses=_answers("Bundle", 404, 409),
             summary="The same search with the credential in the body, out of any URL / "
                     "同上，凭证放在请求体中")
def search_coverage_by_post(identifier: str = Form(min_length=3, max_length=600,
                                                   description=IDENTIFIER_HELP),
                            actor: Actor = Depends(current_actor),
                            platform: Platform = Depends(platform_dep)):
    return _coverage_bundle(platform, actor, identifier)


def _coverage_bundle(platform: Platform, actor: Actor, identifier: str) -> Response:
    resources = fhir_door.search_coverage(platform=platform, actor=actor,
                                          credential=fhir.credential_of_search(identifier))
    return fhir_response(fhir.bundle(resources))


@router.post("/CoverageEligibilityRequest", response_class=Response,
             responses=_answers("CoverageEligibilityResponse", 404),
             openapi_extra=_body("CoverageEligibilityRequest"),
             summary="Benefit check (2001) / 待遇检查")
async def post_eligibility(request: Request, actor: Actor = Depends(current_actor),
                           platform: Platform = Depends(platform_dep)):
    body = await request.body()
    return await _in_thread(fhir_door.check_eligibility, platform=platform, actor=actor,
                            body=body)


async def _in_thread(use_case, **arguments) -> Response:
    """The use case and the answer's serialisation in the thread pool (both block: the
    database, and fhir.resources' validation and JSON)."""
    return await run_in_threadpool(lambda: fhir_response(use_case(**arguments)))


# --- errors as OperationOutcome ------------------------------------------------------------------


class OperationOutcomes:
    """Under the door's root, an answer in problem+json (from anywhere: the access check, a
    domain refusal, routing, the body limit) leaves as the same error in an OperationOutcome.
    Other paths pass straight through (one prefix test)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(ROOT):
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        chunks: list[bytes] = []

        async def sending(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", ())).get(b"content-type", b"")
                if content_type.startswith(PROBLEM):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = _outcome_of(b"".join(chunks))
                headers = [(name, value) for name, value in held.get("headers", ())
                           if name not in (b"content-type", b"content-length")]
                headers += [(b"content-type", fhir.FHIR_JSON.encode()),
                            (b"content-length", str(len(body)).encode())]
                await send({**held, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, sending)


def _outcome_of(problem_json: bytes) -> bytes:
    try:
        problem = json.loads(problem_json)
    except ValueError:
        problem = {"status": 500, "code": "internal_error"}
    return fhir.to_json(fhir.operation_outcome(problem))


def _document_outcomes(document: dict[str, Any]) -> dict[str, Any]:
    """The door's error answers in the OpenAPI document: OperationOutcome in fhir+json."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["OperationOutcome"] = OPERATION_OUTCOME_SCHEMA
    for path, operations in document.get("paths", {}).items():
        if not path.startswith(ROOT):
            continue
        for operation in operations.values():
            for status, answer in operation.get("responses", {}).items():
                if status.isdigit() and int(status) >= 400:
                    answer["content"] = {fhir.FHIR_JSON: {
                        "schema": {"$ref": "#/components/schemas/OperationOutcome"}}}
    return document


def install(app: FastAPI) -> None:
    """Errors under ROOT as OperationOutcome, outermost (so the body limit's 413 too), and
    documented so: call after `api.problems.install` (it rewrites the document first)."""
    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: OperationOutcomes(build())
    openapi = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document_outcomes(openapi())
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
