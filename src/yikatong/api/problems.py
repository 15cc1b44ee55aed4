"""The API's error contract: one problem+json schema, and on every operation the error answers
it can give.

Every error answer is an RFC 9457 problem (`DomainError.to_problem`, the exception handlers
of `api.app`, the body limit of `api.middleware`) sent as `application/problem+json`. FastAPI
documents none of that by itself: only a 422 in `application/json` with a schema the real
422 bodies do not match. `install(app)` rewrites the generated document so that:

- each operation lists the error statuses its route can give, decided from facts of the
  route (a body: 413 and 422; parameters: 422; path parameters: 404; a credential needed:
  401 and 403; a holder's call: 429; a write: 400 and 409), plus what the route declares
  with `responses=problems(...)`;
- every 4xx answer has exactly one media type, `application/problem+json`, with `Problem`
  (or `ValidationProblem` for 422, whose `details` always name the reason in both languages);
- operations whose answer names another's input carry OpenAPI links (`add_links`), so a
  stateful tester can follow them.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from yikatong.api.deps import served_operations
from yikatong.auth.access import PUBLIC, allowed_roles
from yikatong.auth.throttle import login_attempt
from yikatong.core.actor import Role

PROBLEM_MEDIA_TYPE = "application/problem+json"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Why each status can come back, for the document's readers.
DESCRIPTIONS = {
    400: "业务规则不允许此操作 / Refused by a business rule",
    401: "未登录或凭证无效 / No valid credential",
    402: "余额或额度不足 / Not enough balance or allowance",
    403: "该角色或渠道无权办理 / The role or channel may not do this",
    404: "未找到 / Not found",
    409: "与当前状态冲突（含并发修改与幂等键重用） / Conflicts with the current state "
    "(a concurrent change, a reused idempotency key)",
    410: "已失效 / Gone",
    413: "请求内容过大 / Request body too large",
    422: "输入有误 / Invalid input",
    423: "已锁定 / Locked",
    429: "请求过于频繁 / Too many requests (see Retry-After)",
    502: "上游服务出错 / An upstream service failed",
    503: "依赖的设备或服务暂不可用 / A device or service it needs is unavailable",
}


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details with the platform's machine code)."""

    model_config = ConfigDict(extra="forbid", title="Problem")

    type: str = Field(description="URI naming the kind of problem, ends with `code`")
    title: str = Field(description="简短说明（中文） / Short Chinese summary")
    title_en: str = Field(description="Short English summary")
    status: int = Field(ge=400, le=599, description="The HTTP status of the answer")
    code: str = Field(description="Stable machine code, e.g. `not_found`")
    detail: str = Field(description="中文 / English, in one line")
    details: dict[str, Any] | None = Field(
        default=None, description="Facts about this occurrence (field names, limits, ids)"
    )


class ValidationProblem(Problem):
    """A 422: the request, or a value in it, is malformed or out of range. A malformed request
    (`code` `invalid_input`) names each bad field in `details.reason_zh` / `details.reason_en`;
    a domain's own 422 (e.g. `unknown_bank`) names the offending value in `details`."""

    model_config = ConfigDict(extra="forbid", title="ValidationProblem")

    status: Literal[422] = Field(description="Always 422")


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Error statuses a route gives beyond what its facts imply (`install` adds those), for
    the route's `responses=`: e.g. `@router.post(..., responses=problems(402, 423))`."""
    return {
        status: {"description": DESCRIPTIONS.get(status, "错误 / Error")} for status in statuses
    }


# Extra statuses of routes that declare them here rather than with `responses=problems(...)`
# in their decorator: an unknown user name or a wrong password is a 401 at the login; the
# latest audit verification is a 404 until the first verification has run; an e-card looked up
# by whichever of its optional keys the partner has is a 404 when none matches.
DECLARED: dict[str, tuple[int, ...]] = {
    "GET /api/v1/ecard/lookup": (404,),
    "POST /api/v1/auth/token": (401,),
    "GET /api/v1/audit/verifications/latest": (404,),
}


def statuses_from_facts(
    route: APIRoute, method: str, path: str, operation: dict[str, Any]
) -> set[int]:
    """The error statuses any route like this one can give, from what it takes, who may call it
    and what it counts."""
    facts = _facts(route.dependant)
    takes_body = route.body_field is not None or "requestBody" in operation
    statuses: set[int] = set()
    if takes_body:
        statuses |= {413, 422}  # over the body limit (api.middleware); malformed
    if facts["path"] or facts["query"] or facts["header"] or facts["cookie"]:
        statuses.add(422)
    if facts["path"] or facts["required_query"] or _body_names_a_record(route):
        statuses.add(404)  # nothing under that id, or matching what the query or body names
    allowed = allowed_roles(method, path)
    if allowed is not PUBLIC:
        statuses |= {401, 403}  # no valid credential; a role or channel the table refuses
        if allowed is None or Role.HOLDER in allowed:
            statuses.add(429)  # every holder call counts against the holder's quota
    if facts["throttled"]:
        statuses.add(429)
    if method in WRITE_METHODS:
        statuses |= {400, 409}  # a business rule refuses; a concurrent writer got there first
    if any(name.lower() == "idempotency-key" for name in facts["header"]):
        statuses.add(409)  # the key was used for another request
    return statuses


REFERENCE_SUFFIXES = ("_id", "_no", "asn", "_code")


def _body_names_a_record(route: APIRoute) -> bool:
    """Whether the body refers to another record (a person_id, a card_no, an outlet_code...)."""
    if route.body_field is None:
        return False
    model = route.body_field.field_info.annotation
    fields = getattr(model, "model_fields", {})  # a union of models: no single answer, none
    return any(name.endswith(REFERENCE_SUFFIXES) for name in fields)


def _facts(dependant) -> dict[str, list[str]]:
    """The parameters a route reads, its own and its dependencies', by where they come from;
    and under "throttled" the throttles it counts a hit in (auth.throttle)."""
    found: dict[str, list[str]] = {
        "path": [],
        "query": [],
        "header": [],
        "cookie": [],
        "throttled": [],
        "required_query": [],
    }
    stack = [dependant]
    while stack:
        current = stack.pop()
        found["path"] += [p.alias for p in current.path_params]
        found["query"] += [p.alias for p in current.query_params]
        found["required_query"] += [
            p.alias for p in current.query_params if p.field_info.is_required()
        ]
        found["header"] += [p.alias for p in current.header_params]
        found["cookie"] += [p.alias for p in current.cookie_params]
        name = getattr(current.call, "__name__", "")
        if name.startswith("throttle_") or current.call is login_attempt:
            found["throttled"].append(name)
        stack.extend(current.dependencies)
    return found


def install(app: FastAPI) -> None:
    """Make `app.openapi()` document the error answers as they really are (module docstring)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = document_problems(app, document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document_problems(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in (Problem, ValidationProblem):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    for route, method, path in served_operations(app):
        operation = document.get("paths", {}).get(path, {}).get(method.lower())
        if operation is None or not isinstance(route, APIRoute):
            continue
        responses = operation.setdefault("responses", {})
        declared = {int(status) for status in responses if status.isdigit() and int(status) >= 400}
        declared |= set(DECLARED.get(f"{method} {path}", ()))
        for status in sorted(statuses_from_facts(route, method, path, operation) | declared):
            answer = responses.setdefault(str(status), {})
            answer["description"] = answer.get("description") or DESCRIPTIONS.get(
                status, "错误 / Error"
            )
            if answer["description"] == "Validation Error":
                answer["description"] = DESCRIPTIONS[422]
            name = "ValidationProblem" if status == 422 else "Problem"
            answer["content"] = {
                PROBLEM_MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{name}"}}
            }
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and f'"#/components/schemas/{unused}"' not in str(
            document["paths"]
        ).replace("'", '"'):
            del schemas[unused]
    add_links(document)
    return document


API = "/api/v1"


def _reads(source: str, status: str, expression: str, parameter: str, *targets: str):
    """Links from `source`'s `status` answer to each target operation, passing the value at
    `expression` (an OpenAPI runtime expression) as the target's `parameter`."""
    return [
        (
            source,
            status,
            target.replace(" ", "_").replace("/", "_").strip("_"),
            target,
            {parameter: expression},
        )
        for target in targets
    ]


# Where one operation's answer names another's input: create, then read or act on what was
# created. Operations absent from the document (a domain not installed) are skipped.
LINKS: list[tuple[str, str, str, str, dict[str, str]]] = [
    *_reads(
        f"POST {API}/people/applicants",
        "200",
        "$response.body#/person_id",
        "person_id",
        f"GET {API}/people/{{person_id}}",
        f"GET {API}/people/{{person_id}}/photo",
        f"POST {API}/people/{{person_id}}/corrections",
    ),
    *_reads(
        f"POST {API}/people/{{person_id}}/corrections",
        "201",
        "$response.body#/id",
        "correction_id",
        f"GET {API}/people/corrections/{{correction_id}}",
        f"POST {API}/people/corrections/{{correction_id}}/approve",
        f"POST {API}/people/corrections/{{correction_id}}/reject",
    ),
    *_reads(
        f"POST {API}/applications",
        "201",
        "$response.body#/id",
        "application_id",
        f"GET {API}/applications/{{application_id}}",
        f"GET {API}/applications/{{application_id}}/face.png",
        f"POST {API}/applications/{{application_id}}/approve",
        f"POST {API}/applications/{{application_id}}/reject",
        f"POST {API}/applications/{{application_id}}/cancel",
    ),
    *_reads(
        f"POST {API}/applications/{{application_id}}/approve",
        "200",
        "$response.body#/person_id",
        "person_id",
        f"GET {API}/people/{{person_id}}",
    ),
    *_reads(
        f"POST {API}/applications/production/batches",
        "201",
        "$response.body#/id",
        "batch_id",
        f"GET {API}/applications/production/batches/{{batch_id}}",
        f"POST {API}/applications/production/batches/{{batch_id}}/collect",
    ),
    *_reads(
        f"POST {API}/applications/employer-batches",
        "201",
        "$response.body#/id",
        "batch_id",
        f"GET {API}/applications/employer-batches/{{batch_id}}",
    ),
    *_reads(
        f"GET {API}/cards",
        "200",
        "$response.body#/0/card_no",
        "card_no",
        f"GET {API}/cards/{{card_no}}",
        f"GET {API}/cards/{{card_no}}/blocks",
        f"GET {API}/transit/wallet-refunds/{{card_no}}",
    ),
    *_reads(
        f"GET {API}/cards",
        "200",
        "$response.body#/0/person_id",
        "person_id",
        f"GET {API}/people/{{person_id}}",
    ),
    *_reads(
        f"POST {API}/transit/top-ups",
        "201",
        "$response.body#/order_no",
        "order_no",
        f"GET {API}/transit/top-ups/{{order_no}}",
    ),
    *_reads(
        f"POST {API}/transit/contacts",
        "201",
        "$response.body#/contact_id",
        "contact_id",
        f"GET {API}/transit/contacts/{{contact_id}}",
        f"POST {API}/transit/contacts/{{contact_id}}/answers",
    ),
    *_reads(
        f"POST {API}/transit/rider-grants",
        "201",
        "$response.body#/id",
        "grant_id",
        f"POST {API}/transit/rider-grants/{{grant_id}}/revoke",
    ),
]


def add_links(document: dict[str, Any]) -> None:
    """Write the declared links into the document, skipping those whose operations are absent."""
    paths = document.get("paths", {})
    for source, status, name, target, parameters in LINKS:
        source_method, source_path = source.split(" ", 1)
        target_method, target_path = target.split(" ", 1)
        answering = paths.get(source_path, {}).get(source_method.lower())
        taking = paths.get(target_path, {}).get(target_method.lower())
        if answering is None or taking is None or status not in answering.get("responses", {}):
            continue
        answer = answering["responses"][status]
        answer.setdefault("links", {})[name] = {
            "operationId": taking["operationId"],
            "parameters": {
                _location(taking, parameter) + parameter: value
                for parameter, value in parameters.items()
            },
        }


def _location(operation: dict[str, Any], parameter: str) -> str:
    """The `path.` / `query.` prefix naming where the target takes the parameter."""
    for declared in operation.get("parameters", []):
        if declared["name"] == parameter:
            return declared["in"] + "."
    return ""
