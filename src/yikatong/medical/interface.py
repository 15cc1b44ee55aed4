"""The designated institutions' interface in the national medical insurance platform's style
(docs/medical-interface.md): one POST endpoint taking the envelope, dispatching on `infno`.

Every message goes through, in this order:
1. the caller's credential (API key or token) of role MEDICAL_INSTITUTION (the access table);
2. the envelope (envelope.parse_envelope: fields, msgid of this institution);
3. the institution: the credential's `branch_code`, the envelope's `fixmedins_code` and the
   signature's `x-tif-paasid` must be the same code;
4. the header signature with the institution's secret (sealed in the database by the medical
   service), the timestamp within 5 minutes of the platform's clock, and with signtype SM3
   the body signature `cainfo`;
5. the nonce, spent once: a row in `idempotency_records` (scope `medical-nonce:<code>`, unique),
   so every worker process agrees on what was seen;
6. msgid: the same (institution, msgid) again answers the first answer, unchanged (stored
   with the answer's commit; another message under that msgid is refused);
7. sign_no (every message but 9001): a sign-in of this institution for today, not signed out;
8. the handler of `infno`, which maps the national fields to the medical services.

Refusals answer HTTP 200 with the envelope (infcode non-zero, err_msg in Chinese and English,
err_code the stable machine code), as the national platform does, so a hospital information
system reads every outcome in one place. Only a caller without a valid credential, a role the
access table refuses, or a body that is not JSON, gets a problem+json answer instead.

Sign-in (9001) answers a `sign_no` that is a stateless token: yyyyMMdd (Beijing day) + 6
random hex + 16 hex of HMAC-SHA256 under a key derived from the key store, over the
institution code, the day and the random part. Checking it needs no table: it is this
institution's and today's, or it is not. A sign-out (9002) is the one state it needs: the
sign_no is recorded as signed out (idempotency_records, scope `medical-signed-out`) and refused
from then on. Tomorrow every sign_no of today is refused by its day.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Header, Request
from fastapi.datastructures import DefaultPlaceholder
from fastapi.routing import APIRoute, serialize_response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import bindparam, delete, exists, insert, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, get_route_path

from yikatong.api.deps import credential, current_actor, platform_dep
from yikatong.api.lean import CHANNELS, LeanReads
from yikatong.auth.access import PUBLIC
from yikatong.core.actor import Actor, Role
from yikatong.core.clock import CST
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.crypto.protocols import KeyStore
from yikatong.db.idempotency import IdempotencyRecord, request_fingerprint
from yikatong.db.statement import RawStatement
from yikatong.db.uow import UnitOfWork
from yikatong.medical import envelope as env
from yikatong.medical.envelope import Envelope
from yikatong.platform import Platform

log = logging.getLogger(__name__)

router = APIRouter(prefix="/medical", tags=["medical 医保定点机构接口"])
PATH = "/fsi/api/rsfComIfsService/callService"  # the national gateway's path, under /medical
SIGN_NO_KEY_LABEL = "medical-sign-no"
NONCE_SCOPE = "medical-nonce:"
SIGNED_OUT_SCOPE = "medical-signed-out"
MESSAGE_SCOPE = "medical-msg:"


# --- the call a handler serves ------------------------------------------------------------------
@dataclass
class Call:
    platform: Platform
    uow: UnitOfWork
    actor: Actor
    envelope: Envelope
    received: datetime

    @property
    def code(self) -> str:
        return self.envelope.fixmedins_code

    @property
    def day(self) -> date:
        return self.received.astimezone(CST).date()

    def data(self, name: str = "data") -> dict[str, Any]:
        """input[name] as an object (most messages carry their fields in input.data)."""
        found = self.envelope.input.get(name)
        if not isinstance(found, Mapping):
            raise env.EnvelopeInvalid(reason_zh=f"缺少 input.{name}", reason_en=f"input.{name} is missing")
        return dict(found)


Handler = Callable[[Call], dict[str, Any]]


@dataclass(frozen=True)
class Transaction:
    handler: Handler
    name_zh: str
    name_en: str
    signed_in: bool = True  # needs a valid sign_no
    # The door keeps the answer under (institution, msgid): messages that change something
    # outside medical.visits (which keeps its own in medical_messages, where 2601 finds them).
    # Reads are answered afresh: they change nothing.
    remembered: bool = False


TRANSACTIONS: dict[str, Transaction] = {}


def transaction(infno: str, name_zh: str, name_en: str, *, signed_in: bool = True,
                remembered: bool = False):
    def register(handler: Handler) -> Handler:
        TRANSACTIONS[infno] = Transaction(handler, name_zh, name_en, signed_in, remembered)
        return handler
    return register


# --- sign_no: a stateless token of (institution, day) --------------------------------------------
def make_sign_no(key: bytes, *, fixmedins_code: str, day: date, nonce: str | None = None) -> str:
    """yyyyMMdd + 6 random hex + 16 hex of HMAC: 30 characters."""
    nonce = nonce or secrets.token_hex(3).upper()
    stamp = day.strftime("%Y%m%d")
    return stamp + nonce + _sign_no_mac(key, fixmedins_code, stamp, nonce)


def sign_no_valid(key: bytes, sign_no: str, *, fixmedins_code: str, day: date) -> bool:
    if not isinstance(sign_no, str) or len(sign_no) != 30 or not sign_no.isascii():
        return False
    stamp, nonce, mac = sign_no[:8], sign_no[8:14], sign_no[14:]
    if stamp != day.strftime("%Y%m%d"):
        return False
    return hmac.compare_digest(_sign_no_mac(key, fixmedins_code, stamp, nonce), mac.upper())


def _sign_no_mac(key: bytes, code: str, stamp: str, nonce: str) -> str:
    return hmac.new(key, f"{code}|{stamp}|{nonce}".encode(), hashlib.sha256).hexdigest()[:16].upper()


def _sign_no_key(platform: Platform) -> bytes:
    return platform.get(KeyStore).derived_key(SIGN_NO_KEY_LABEL)


# --- the institution's secret -------------------------------------------------------------------
def institution_secret(uow: UnitOfWork, fixmedins_code: str) -> str:
    """The institution's signing secret, unsealed (the medical service keeps it sealed)."""
    return _institution_and_secret(uow, fixmedins_code)[1]


_DOOR_QUERIES: dict[str, RawStatement] = {}  # the door's selects (db.statement), built once
_DOOR_ROWS: dict[str, Any] = {}  # the institution's part of a row of the credential's select, its row type


def _institution_select(*, with_nonce: bool) -> Any:
    """The door's select of the institution; with `with_nonce` (PostgreSQL), the nonce's row
    inserted by the same statement: a data-modifying CTE, INSERT … ON CONFLICT (scope, key) DO
    NOTHING RETURNING id, and `nonce_spent` whether this statement inserted it (false: the
    nonce was spent before, or by a concurrent message that committed first, whose commit the
    insert waited for as a plain INSERT does)."""
    from sqlalchemy import literal
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    from yikatong.medical import service
    from yikatong.medical.models import HandledMessage, Institution

    # short aliases: psycopg caches a query's conversion only up to 4096 bytes of SQL (and
    # 50 parameters), and the lean door's statement (`read_ahead`) holds this one
    institutions = Institution.__table__.alias("mi")
    signed_out, handled = IdempotencyRecord.__table__.alias("so"), HandledMessage.__table__.alias("hm")
    columns = institutions.c
    selected = [
        *(columns[name] for name in service.INSTITUTION_COLUMNS),
        exists().where(signed_out.c.scope == SIGNED_OUT_SCOPE,
                       signed_out.c.key == bindparam("sign_no")).label("signed_out"),
        exists().where(handled.c.fixmedins_code == bindparam("code"),
                       handled.c.msgid == bindparam("msgid")).label("handled"),
    ]
    if not with_nonce:
        return select(*selected).where(columns.code == bindparam("code"))
    nonces = IdempotencyRecord.__table__
    spent = pg_insert(nonces).values(
        scope=bindparam("nonce_scope", type_=nonces.c.scope.type),
        key=bindparam("nonce_key", type_=nonces.c.key.type),
        request_hash=bindparam("nonce_hash", type_=nonces.c.request_hash.type),
        response=bindparam("nonce_response", type_=nonces.c.response.type),
        created_at=bindparam("nonce_at", type_=nonces.c.created_at.type),
    ).on_conflict_do_nothing(index_elements=[nonces.c.scope, nonces.c.key]).returning(nonces.c.id).cte("spent_nonce")
    return select(*selected, select(literal(1)).select_from(spent).exists().label("nonce_spent"),
                  ).where(columns.code == bindparam("code"))


def _institution_query(*, with_nonce: bool) -> RawStatement:
    """`_institution_select` as a RawStatement, built once (building a select costs more than
    running it)."""
    kind = "nonce" if with_nonce else "plain"
    found = _DOOR_QUERIES.get(kind)
    if found is None:
        found = _DOOR_QUERIES[kind] = RawStatement(
            _institution_select(with_nonce=with_nonce), "DoorInstitutionNonce" if with_nonce else "DoorInstitution")
    return found


def _credential_and_institution_query() -> RawStatement:
    """The lean door's first statement on PostgreSQL (`read_ahead`): `credential_holder`'s
    select (auth.service.with_credential: its columns first, None when no credential has the
    hash) and `_institution_select(with_nonce=True)`'s (None when no institution has the code),
    one row. Built once."""
    found = _DOOR_QUERIES.get("credential")
    if found is None:
        from yikatong.auth.service import with_credential

        part = _institution_select(with_nonce=True)
        _DOOR_ROWS["credential"] = namedtuple("DoorInstitutionNonce", [c.key for c in part.selected_columns])
        found = _DOOR_QUERIES["credential"] = RawStatement(with_credential(part), "DoorCredentialInstitution")
    return found


def _credential_institution_insured_query() -> RawStatement:
    """`_credential_and_institution_query` with `service.insured_by_ssn_select`'s row after
    the institution's (its columns None when it has none), for a message that identifies its
    person by ID number (`read_ahead`). Built once."""
    found = _DOOR_QUERIES.get("insured")
    if found is None:
        from sqlalchemy import literal_column, true

        from yikatong.auth.service import with_credential
        from yikatong.medical import service

        institution = _institution_select(with_nonce=True).subquery("institution")
        insured = service.insured_by_ssn_select().subquery("insured")
        anchor = select(literal_column("1").label("one")).subquery("door_anchor")
        part = (select(*institution.c, *(column.label(f"i_{column.key}") for column in insured.c))
                .select_from(anchor.outerjoin(institution, true()).outerjoin(insured, true())))
        _DOOR_ROWS["insured"] = namedtuple("InsuredBySsn", [column.key for column in insured.c])
        _credential_and_institution_query()  # the institution's row type
        found = _DOOR_QUERIES["insured"] = RawStatement(with_credential(part), "DoorCredentialInstitutionInsured")
    return found


# the messages that identify their person by `input.data`'s credential at once (`check_insured`)
_IDENTIFYING = frozenset({"2201", "2206", "2207"})


def _institution_params(fixmedins_code: str, sign_no: Any, msgid: Any, *,
                        nonce: tuple[env.SignatureHeaders, datetime] | None) -> dict[str, Any]:
    """The parameters of the door's select (`nonce`: with the nonce's row)."""
    params = {"code": fixmedins_code, "msgid": msgid if isinstance(msgid, str) else "",
              "sign_no": sign_no if isinstance(sign_no, str) else ""}
    if nonce is not None:
        signature, received = nonce
        params.update(nonce_scope=NONCE_SCOPE + fixmedins_code, nonce_key=signature.nonce,
                      nonce_hash=signature.timestamp, nonce_response={}, nonce_at=received)
    return params


@dataclass(frozen=True)
class ReadAhead:
    """What the lean door read with the credential (`read_ahead`), for `call_service`: the
    envelope and signature headers as it parsed them, when the message was received, and the
    institution's row (None: no institution has the code) of the door's select run with `params`."""

    envelope: Envelope
    signature: env.SignatureHeaders
    received: datetime
    params: dict[str, Any]
    institution: Any
    insured: tuple[dict[str, Any], Any] | None = None  # (params, row) of service.insured_by_ssn_select


def _institution_and_secret(uow: UnitOfWork, fixmedins_code: str,
                            sign_no: Any = "", msgid: Any = "", *,
                            nonce: tuple[env.SignatureHeaders, datetime] | None = None,
                            ahead: ReadAhead | None = None) -> tuple[Any, str, bool]:
    """One select per message: the institution (active, sealed secret), whether `sign_no`
    was signed out (9002), and whether `msgid` is among the institution's handled messages
    (medical_messages: when it is not, medical.visits is told so and skips its own look-up,
    `visits.note_unhandled`). The institution is a selected row of its columns, run on the
    connection's own cursor (db.statement: no ORM entity, no SQLAlchemy execution path), noted for
    this transaction (`service.note_institution`) so the handler's `institution_of` takes it
    instead of selecting it again. (row, secret unsealed, signed out).

    `nonce` (the message's signature headers and when it was received): on PostgreSQL the same
    statement also writes the nonce's row (`_institution_query(with_nonce=True)`: one round
    trip a message fewer), and the row says in `nonce_spent` whether it did; the caller checks
    the signature first and then refuses a nonce not spent here (`_spend_nonce(spent=…)`). A refusal
    rolls the transaction back, the nonce's row with it, as when the row was written after
    the signature's check: what stays written is the same. Elsewhere (SQLite) the row carries
    no `nonce_spent` and the caller spends the nonce by its own INSERT. `ahead`: the same
    select already run in this transaction with the credential's (the lean door's
    `read_ahead`): its row is taken when it was run with exactly these parameters."""
    from yikatong.medical import service, visits
    from yikatong.medical.errors import InstitutionNotFound

    connection = uow.connection()
    with_nonce = nonce is not None and connection.dialect.name == "postgresql"
    params = _institution_params(fixmedins_code, sign_no, msgid, nonce=nonce if with_nonce else None)
    if ahead is not None and ahead.params == params:
        found = ahead.institution
        if ahead.insured is not None:  # the person by ID number, for the handler's `check_insured`
            service.note_insured(uow, *ahead.insured)
    else:
        found = _institution_query(with_nonce=with_nonce).first(connection, params)
    if found is None:
        raise InstitutionNotFound(code=str(fixmedins_code)[:12])
    msgid = params["msgid"]
    if msgid and not found.handled:
        visits.note_unhandled(uow, fixmedins_code, msgid)
    service.note_institution(uow, found)
    return found, service.signing_secret(uow=uow, row=found), bool(found.signed_out)


# --- the door ------------------------------------------------------------------------------------
def call_service(platform: Platform, actor: Actor, body: Any, headers: Mapping[str, str],
                 uow: UnitOfWork | None = None, ahead: ReadAhead | None = None) -> dict:
    """Answer one message: the response envelope (never raises a refusal).

    One unit of work carries the checks, the spent nonce and the handler's change, so a
    message that settles commits once: the nonce row is flushed first (a concurrent request
    with the same nonce waits for it, then fails) and committed by the handler's own commit
    (medical.visits commits the unit of work it is given). A message refused after its
    signature verified still spends its nonce, in a transaction of its own. `uow`: an open
    unit of work to carry it (the lean door's, whose transaction looked the credential up);
    its session is closed at the end, as leaving `platform.uow()` does. `ahead`: what the
    lean door read in that transaction with the credential (`read_ahead`, from this `body`
    and `headers`): the envelope and headers as parsed there, when the message was
    received, and the institution's row."""
    received = ahead.received if ahead is not None else platform.clock.now()
    envelope: Envelope | None = None
    nonce_to_spend: tuple[str, env.SignatureHeaders] | None = None
    try:
        if ahead is not None:  # parsed and checked there, as below (pure functions of the body and headers)
            envelope, signature = ahead.envelope, ahead.signature
        else:
            envelope = env.parse_envelope(body)
            signature = env.check_headers(env.SignatureHeaders.of(headers))
        code = envelope.fixmedins_code
        if actor.role is not Role.MEDICAL_INSTITUTION or actor.branch_code != code \
                or signature.paasid != code:
            raise env.InstitutionMismatch()
        found = TRANSACTIONS.get(envelope.infno)
        with _message_uow(platform, uow) as uow:
            institution, secret, signed_out = _institution_and_secret(
                uow, code, envelope.sign_no, envelope.msgid, nonce=(signature, received), ahead=ahead)
            env.verify_headers(signature, secret=secret, now=received)
            env.verify_body(body, secret=secret)
            nonce_to_spend = (code, signature)
            _spend_nonce(uow, code, signature, received, spent=getattr(institution, "nonce_spent", None))
            if found is None:
                raise env.UnknownInfno(infno=envelope.infno)
            if found.remembered:
                stored = uow.replay(MESSAGE_SCOPE + code, envelope.msgid, _fingerprinted(envelope))
                if stored is not None:
                    _commit(uow)
                    nonce_to_spend = None
                    return stored
            if found.signed_in:
                _check_signed_in(platform, envelope, received, signed_out=signed_out)
            output = found.handler(Call(platform, uow, actor, envelope, received))
            answer = env.success(envelope, output, received=received,
                                 answered=platform.clock.now())
            if found.remembered:
                uow.remember(MESSAGE_SCOPE + code, envelope.msgid, _fingerprinted(envelope), answer)
            try:
                if uow.session.in_transaction():  # a read's nonce, a remembered answer
                    _commit(uow)
            except env.NonceReplayed:
                if not found.remembered:
                    raise
                # the first try of this msgid committed its answer meanwhile: that is the answer
                stored = uow.replay(MESSAGE_SCOPE + code, envelope.msgid, _fingerprinted(envelope))
                if stored is None:
                    raise
                answer = stored
            nonce_to_spend = None
            return answer
    except DomainError as error:
        refusal: Exception = error
    except Exception as error:  # answered as infcode -9; the traceback is logged, not sent
        log.exception("medical interface: %s failed",
                      envelope.infno if envelope is not None else "a message", exc_info=error)
        refusal = error
    if nonce_to_spend is not None and not isinstance(refusal, env.NonceReplayed):
        _spend_nonce_apart(platform, *nonce_to_spend, received)
    return env.failure(envelope, refusal, received=received, answered=platform.clock.now())


@contextlib.contextmanager
def _message_uow(platform: Platform, given: UnitOfWork | None) -> Iterator[UnitOfWork]:
    if given is None:
        with platform.uow() as uow:
            yield uow
        return
    try:
        yield given
    finally:  # the connection goes back before a refused message's nonce is spent apart
        given.session.close()


# a plain INSERT on the connection's own cursor (db.statement), without RETURNING: nothing reads it back
_NONCE_INSERT = RawStatement(insert(IdempotencyRecord.__table__).inline(), "NonceInsert",
                             columns=("scope", "key", "request_hash", "response", "created_at"))


def _spend_nonce(uow: UnitOfWork, code: str, signature: env.SignatureHeaders,
                 received: datetime, *, spent: bool | None = None) -> None:
    """The nonce's row, written (not committed): a second use, or a concurrent one once the
    first commits, is NonceReplayed. A plain INSERT (no ORM object, no RETURNING): nothing
    reads the row back. `spent`: whether the door's select already wrote it (PostgreSQL,
    `_institution_and_secret`): then no INSERT, and False is the second use."""
    if spent is not None:
        if not spent:
            raise env.NonceReplayed()
        return
    try:
        _NONCE_INSERT.execute(uow.connection(), {"scope": NONCE_SCOPE + code, "key": signature.nonce,
                                            "request_hash": signature.timestamp, "response": {},
                                            "created_at": received})
    except IntegrityError:
        raise env.NonceReplayed() from None


def _spend_nonce_apart(platform: Platform, code: str, signature: env.SignatureHeaders,
                       received: datetime) -> None:
    """A refused message's nonce, spent in its own transaction (already spent: nothing)."""
    try:
        with platform.uow() as uow:
            _spend_nonce(uow, code, signature, received)
            uow.commit()
    except (env.NonceReplayed, IntegrityError):
        pass


def _commit(uow: UnitOfWork) -> None:
    try:
        uow.commit()
    except IntegrityError:  # the nonce, or the msgid's answer, was committed by another first
        raise env.NonceReplayed() from None


def _fingerprinted(envelope: Envelope) -> dict:
    return {"infno": envelope.infno, "input": envelope.input}


def _check_signed_in(platform: Platform, envelope: Envelope, received: datetime, *,
                     signed_out: bool) -> None:
    """`signed_out`: read with the institution in this message's transaction (one select)."""
    day = received.astimezone(CST).date()
    if not sign_no_valid(_sign_no_key(platform), envelope.sign_no,
                         fixmedins_code=envelope.fixmedins_code, day=day):
        raise env.NotSignedIn()
    if signed_out:
        raise env.NotSignedIn()


def _signed_out(uow: UnitOfWork, sign_no: str) -> bool:
    return uow.session.execute(
        select(IdempotencyRecord.id).where(IdempotencyRecord.scope == SIGNED_OUT_SCOPE,
                                           IdempotencyRecord.key == sign_no)
    ).first() is not None


def forget_spent_nonces(uow: UnitOfWork, *, now: datetime) -> int:
    """Delete the nonces older than twice the timestamp window (a request that old is refused
    by its timestamp anyway); returns how many. For a periodic job."""
    cutoff = now - 2 * env.MAX_SKEW
    result = uow.session.execute(delete(IdempotencyRecord).where(
        IdempotencyRecord.scope.like(NONCE_SCOPE + "%"), IdempotencyRecord.created_at < cutoff))
    return result.rowcount or 0


# --- the route -----------------------------------------------------------------------------------
class EnvelopeOut(BaseModel):
    """The national platform's response envelope."""

    model_config = ConfigDict(title="MedicalEnvelopeOut")

    infcode: int = Field(description="0 成功 / success; -1 业务拒绝 / refused by a rule; "
                                     "-2 报文有误 / malformed; -3 签名或机构不符 / signature or "
                                     "institution refused; -4 未签到 / not signed in; -9 内部错误 / "
                                     "internal error")
    inf_refmsgid: str = Field(description="The platform's reference for this answer (30 chars)")
    refmsg_time: str = Field(description="When the message was received (Beijing time)")
    respond_time: str = Field(description="When it was answered (Beijing time)")
    err_msg: str = Field(description="中文 / English; empty on success")
    err_code: str = Field(description="Stable machine code of the refusal; empty on success")
    warn_msg: str
    cainfo: str
    signtype: str
    output: dict[str, Any]


ENVELOPE_SCHEMA = {
    "type": "object",
    "required": ["infno", "msgid", "mdtrtarea_admvs", "fixmedins_code", "inf_time"],
    "properties": {
        "infno": {"type": "string", "description": "交易编号 / transaction code, e.g. 2207"},
        "msgid": {"type": "string", "description": "fixmedins_code + yyyyMMddHHmmss + 4-digit sequence"},
        "mdtrtarea_admvs": {"type": "string", "description": "就医地医保区划 / where care is given"},
        "insuplc_admdvs": {"type": "string", "description": "参保地医保区划 / where insured (from 1101)"},
        "recer_sys_code": {"type": "string"}, "dev_no": {"type": "string"},
        "dev_safe_info": {"type": "string"}, "cainfo": {"type": "string"},
        "signtype": {"type": "string", "description": "SM3 (body signed in cainfo), SM2 or empty"},
        "infver": {"type": "string"}, "opter_type": {"type": "string", "enum": ["1", "2", "3"]},
        "opter": {"type": "string"}, "opter_name": {"type": "string"},
        "inf_time": {"type": "string", "description": "yyyy-MM-dd HH:mm:ss (Beijing time)"},
        "fixmedins_code": {"type": "string"}, "fixmedins_name": {"type": "string"},
        "sign_no": {"type": "string", "description": "from 9001 sign-in"},
        "input": {"type": "object"},
    },
}
MAX_BODY = 4 * 1024 * 1024


@router.post(PATH, response_model=EnvelopeOut,
             summary="National-style institution interface / 定点医药机构接口（国家医保平台报文）",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": ENVELOPE_SCHEMA}}}})
async def call(request: Request, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep),
               _paasid: str | None = Header(default=None, alias="x-tif-paasid",
                                            description="定点机构编码 / the institution code"),
               _timestamp: str | None = Header(default=None, alias="x-tif-timestamp",
                                               description="Unix seconds"),
               _nonce: str | None = Header(default=None, alias="x-tif-nonce",
                                           description="8-64 characters [A-Za-z0-9_-], used once"),
               _signature: str | None = Header(
                   default=None, alias="x-tif-signature",
                   description="hex SHA-256(timestamp + secret + nonce + timestamp)")):
    """One message of the national interface (docs/medical-interface.md). Every outcome is
    the response envelope; `infcode` 0 is success. Amounts are yuan with two decimals."""
    body = _parsed(await request.body())
    return await run_in_threadpool(call_service, platform, actor, body, request.headers)


def _parsed(raw: bytes) -> Any:
    if len(raw) > MAX_BODY:
        raise InvalidInput(reason_zh="报文过大", reason_en="message too large")
    try:
        return json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(reason_zh="报文不是 JSON", reason_en="the message is not JSON") from None


# --- the lean door: the same route without FastAPI's machinery ----------------------------------
_LEAN_DOOR = "yikatong.medical.lean_door"  # the child scope key: (secret, channel)

# The door's messages a server process works on at once. A message alternates between Python,
# which holds the GIL, and waits on the database; three keep a worker's core busy while the
# others wait. More only take turns at the GIL and keep more PostgreSQL backends busy: held to
# the connection pool's 20 (before 2026-12-06), 50 terminals on two workers made 59-79 visits/s
# at 14.4-18.6 ms of server and 7.0-9.7 ms of PostgreSQL CPU a visit; held to 2-3, 80-102
# visits/s at 11.5-13.7 and 5.2-6.6 ms, settle p99 237-407 ms against 378-520
# (bench/medical_settlement.py). Each message still holds one pooled connection throughout:
# fewer in flight than the pool keeps means no connection is ever opened for the door.
MESSAGES_IN_FLIGHT = 3


class LeanDoor(BaseRoute):
    """The door's route answered as `call` answers it, in front of the application's routes
    (`install_lean_door`), as api.lean does for the hot reads: no routing through the nested
    routers, no dependency solving, one thread-pool hop where the ordinary path makes two, and
    the credential looked up in the message's own transaction (`serve`) instead of a read of
    its own (a pool checkout and two round trips fewer per message).

    Same checks in the same order: the credential and the role of api.deps.authorize (same
    functions), then the body (`_parsed`), then `call_service`; refusals are raised into the
    application's exception handlers as from the route; the answer is validated against
    EnvelopeOut and serialised by FastAPI's own `serialize_response`, as the route's is. A
    request the ordinary path could answer otherwise goes the ordinary way: no credential (401
    from `authorize`), an `X-Ykt-Channel` that is not a channel (422 from the header's
    validation). tests/medical/test_lean_door.py compares the two paths."""

    def __init__(self, route: APIRoute, allowed: frozenset, path: str) -> None:
        self.route = route
        self.allowed = allowed
        self.path = path
        self.limiter: Any = None  # made at the first message, inside the running event loop

    def _limiter(self) -> Any:
        """Messages in flight in this process: MESSAGES_IN_FLIGHT, the others wait in the event
        loop, in arrival order."""
        if self.limiter is None:
            from anyio import CapacityLimiter

            self.limiter = CapacityLimiter(MESSAGES_IN_FLIGHT)
        return self.limiter

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # the route keeps its name

    def matches(self, scope: Any) -> tuple[Match, dict]:
        if scope["type"] != "http" or scope["method"] != "POST" or get_route_path(scope) != self.path:
            return Match.NONE, {}
        headers = Headers(scope=scope)
        secret, channel = credential(headers), headers.get("x-ykt-channel")
        if not secret or not (channel is None or channel in CHANNELS):
            return Match.NONE, {}
        return Match.FULL, {"endpoint": self.route.endpoint, "route": self.route, "path_params": {},
                            _LEAN_DOOR: (secret, channel)}

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        secret, channel = scope[_LEAN_DOOR]
        request = Request(scope, receive)
        raw = await request.body()
        platform = scope["app"].state.platform
        answer = await to_thread.run_sync(serve, platform, self.allowed, secret, channel, raw,
                                          request.headers, limiter=self._limiter())
        route = self.route
        body = await serialize_response(
            field=route.response_field, response_content=answer,
            include=route.response_model_include, exclude=route.response_model_exclude,
            by_alias=route.response_model_by_alias, exclude_unset=route.response_model_exclude_unset,
            exclude_defaults=route.response_model_exclude_defaults,
            exclude_none=route.response_model_exclude_none, is_coroutine=True, dump_json=True)
        await Response(content=body, media_type="application/json")(scope, receive, send)


def serve(platform: Platform, allowed: frozenset, secret: str, channel: str | None, raw: bytes,
          headers: Mapping[str, str]) -> dict:
    """One message on the lean door, in one unit of work: the credential (api.deps'
    `_allowed_actor`, read on this unit of work's connection), the body, `call_service`."""
    from yikatong.api.deps import _actor_of, _allowed_actor, _needs_person_link, _role_allowed
    from yikatong.auth.service import credential_holder
    from yikatong.db.raw import answered

    with platform.uow() as uow:
        try:  # refused after the credential, as before: its refusals come first
            body, not_json = _parsed(raw), None
        except InvalidInput as error:
            body, not_json = None, error
        connection = uow.connection()
        credential_rows, ahead = read_ahead(platform, connection, secret, body, headers) \
            if not_json is None else (None, None)
        with answered(credential_rows):  # the credential's select answered by the read ahead's row
            holder = credential_holder(connection=connection, secret=secret, now=platform.clock.now())
        if _needs_person_link(holder) or holder.role == Role.HOLDER:
            # a holder: linking and the quota count write on connections of their own
            uow.session.close()  # the read ahead's nonce row with it: call_service reads again
            ahead = None
            actor = _allowed_actor(platform, allowed, secret, channel)
        else:
            actor = _role_allowed(_actor_of(platform, secret, holder, channel), allowed)
        if not_json is not None:
            raise not_json
        return call_service(platform, actor, body, headers, uow=uow, ahead=ahead)


def read_ahead(platform: Platform, connection: Any, secret: str, body: Any,
               headers: Mapping[str, str]) -> tuple[dict | None, ReadAhead | None]:
    """On PostgreSQL, the credential's select and the door's (the institution, the signed-out
    and handled checks, the nonce's row) as one statement, the lean door's first
    (`_credential_and_institution_query`: a round trip a message fewer): the credential's rows
    for `db.raw.answered` (so `credential_holder` checks the same row the same way), and the
    ReadAhead for `call_service`. Only for a message whose envelope and signature headers are
    well formed (else (None, None): each select runs alone, as before). A credential or the
    door refused after it rolls the transaction back, the nonce's row with it, as a refusal
    after the door's own select does: what stays written is the same."""
    from yikatong.auth.service import credential_answers, credential_params, credential_width

    if connection.dialect.name != "postgresql":
        return None, None
    try:
        envelope = env.parse_envelope(body)
        signature = env.check_headers(env.SignatureHeaders.of(headers))
    except DomainError:
        return None, None  # refused by call_service, after the credential's own select
    received = platform.clock.now()
    params = _institution_params(envelope.fixmedins_code, envelope.sign_no, envelope.msgid,
                                 nonce=(signature, received))
    insured_params = _insured_params(envelope, received)
    if insured_params is None:
        row = _credential_and_institution_query().first(connection, {**credential_params(secret), **params})
    else:
        row = _credential_institution_insured_query().first(
            connection, {**credential_params(secret), **params, **insured_params})
    dialect, width = connection.dialect, credential_width(connection.dialect)
    institution_type = _DOOR_ROWS["credential"]
    insured_at = width + len(institution_type._fields)
    institution = None if row[width] is None else institution_type._make(row[width:insured_at])
    insured = None
    if insured_params is not None:
        insured = (insured_params, None if row[insured_at] is None else _DOOR_ROWS["insured"]._make(row[insured_at:]))
    return credential_answers(dialect, row, secret), ReadAhead(envelope, signature, received, params, institution,
                                                               insured)


def _insured_params(envelope: Envelope, received: datetime) -> dict[str, Any] | None:
    """For a message that identifies its person by ID number (2201, 2206, 2207 with
    mdtrt_cert_type 02, insured here), what its `check_insured` will bind (its day as the
    handler takes it; a message that crosses midnight meanwhile selects again); else None."""
    from yikatong.core.clock import local_date
    from yikatong.medical import crossregion, service

    data = envelope.input.get("data")
    if envelope.infno not in _IDENTIFYING or not isinstance(data, Mapping) or data.get("mdtrt_cert_type") != "02":
        return None
    if envelope.insuplc_admdvs and not crossregion.is_home(envelope.insuplc_admdvs):
        return None  # identified by the insured region (`_elsewhere`)
    return service.insured_by_ssn_params(data.get("mdtrt_cert_no"), local_date(received))


def install_lean_door(app: Any) -> LeanDoor | None:
    """Put the lean door in front of `app`'s routes (after api.lean's), unless a route before
    the door's could take its requests (then the ordinary path answers them all)."""
    from fastapi.routing import iter_route_contexts

    from yikatong.auth.access import allowed_roles

    path = f"/api/v1/medical{PATH}"
    for context in iter_route_contexts(app.routes):
        route, regex = context.original_route, getattr(context, "path_regex", None)
        if isinstance(route, APIRoute) and route.endpoint is call and context.path_format == path:
            allowed = allowed_roles("POST", path)
            if (not allowed or allowed is PUBLIC or not isinstance(route.response_class, DefaultPlaceholder)
                    or route.dependencies  # a throttle or any other check added to the route
                    or [d.call for d in route.dependant.dependencies] != [current_actor, platform_dep]):
                return None
            door = LeanDoor(route, allowed, path)
            routes = app.router.routes  # behind the lean reads (GETs only), in front of the rest
            routes.insert(1 if routes and isinstance(routes[0], LeanReads) else 0, door)
            return door
        if isinstance(route, LeanReads) or (context.methods is not None and "POST" not in context.methods):
            continue  # answers GETs only
        if regex is not None and regex.match(path) is None:
            continue
        if regex is None and not path.startswith(getattr(route, "path", "") or "/"):
            continue
        return None  # a route in front of the door might take its requests
    return None


# --- money at the door: yuan with two decimals <-> fen ------------------------------------------
def fen(value: Any, field: str) -> int:
    """A national amount (yuan, at most two decimals, number or string) in fen."""
    try:
        amount = Decimal(str(value)) if not isinstance(value, bool) else None
    except ArithmeticError:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")) \
            or amount > Decimal(10_000_000):
        raise env.EnvelopeInvalid(reason_zh=f"{field} 应为不超过两位小数的非负金额（元）",
                                  reason_en=f"{field} must be a non-negative amount in yuan with at most two decimals")
    return int(amount * 100)


def yuan(amount: int) -> str:
    """Fen as the national platform writes amounts: yuan with two decimals ("12.30")."""
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 100)
    return f"{sign}{whole}.{part:02d}"


def text(data: Mapping[str, Any], name: str, *, required: bool = True, max_length: int = 100) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise env.EnvelopeInvalid(reason_zh=f"缺少 {name}", reason_en=f"{name} is missing")
        return ""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value) > max_length:
        raise env.EnvelopeInvalid(reason_zh=f"{name} 应为不超过 {max_length} 字的字符串",
                                  reason_en=f"{name} must be a string of at most {max_length} characters")
    return value


# --- 9001 / 9002 ---------------------------------------------------------------------------------
@transaction("9001", "签到", "sign in", signed_in=False, remembered=True)
def sign_in(call: Call) -> dict:
    call.data("signIn")  # opter_no, mac, ip: recorded by the audit of the message
    sign_no = make_sign_no(_sign_no_key(call.platform), fixmedins_code=call.code, day=call.day)
    call.uow.audit(actor=call.actor, action="medical.sign_in", entity_type="medical_institution",
                   entity_id=call.code, after={"day": call.day.isoformat(),
                                               "opter": call.envelope.opter,
                                               "msgid": call.envelope.msgid})
    return {"signinoutb": {"sign_time": env.beijing(call.received), "sign_no": sign_no}}


@transaction("9002", "签退", "sign out", signed_in=False, remembered=True)
def sign_out(call: Call) -> dict:
    data = call.data("signOut")
    sign_no = text(data, "sign_no", max_length=30)
    if not sign_no_valid(_sign_no_key(call.platform), sign_no, fixmedins_code=call.code,
                         day=call.day):
        raise env.NotSignedIn()
    if not _signed_out(call.uow, sign_no):
        call.uow.session.add(IdempotencyRecord(
            scope=SIGNED_OUT_SCOPE, key=sign_no, request_hash=request_fingerprint(call.code),
            response={"fixmedins_code": call.code}, created_at=call.received))
        call.uow.audit(actor=call.actor, action="medical.sign_out",
                       entity_type="medical_institution", entity_id=call.code,
                       after={"day": call.day.isoformat(), "msgid": call.envelope.msgid})
    return {"signoutoutb": {"sign_time": env.beijing(call.received)}}



# --- the medical services behind the messages ------------------------------------------------------
GENDERS = {"M": "1", "F": "2", "1": "1", "2": "2"}  # national gend: 1 male, 2 female, 9 unknown
ITEM_CLASSES = {"A": "01", "B": "02", "C": "03"}    # chrgitm_lv: 01 甲, 02 乙, 03 丙
# psn_type (example codes of the national dictionary): 11 employee in service, 21 retired,
# 15 urban-rural resident
def _psn_type(scheme: str, retired: bool) -> str:
    if scheme == "390":
        return "15"
    return "21" if retired else "11"


def _date(data: Mapping[str, Any], name: str, *, required: bool = True) -> date | None:
    value = text(data, name, required=required, max_length=19)
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise env.EnvelopeInvalid(reason_zh=f"{name} 应为 yyyy-MM-dd 日期",
                                  reason_en=f"{name} must be a date yyyy-MM-dd") from None


def _person_id(call: Call, psn_no: str) -> int:
    from yikatong.medical import service
    from yikatong.medical.errors import InsuredNotFound

    person_id = service.person_by_psn_no(uow=call.uow, psn_no=psn_no)
    if person_id is None:
        raise InsuredNotFound(cert_type_zh="人员编号 psn_no", cert_type_en="personnel number psn_no")
    return person_id


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


@transaction("1101", "人员信息获取", "person information")
def person_info(call: Call) -> dict:
    from yikatong.medical import service

    data = call.data()
    elsewhere = _elsewhere(call)
    if elsewhere:  # insured in another region: that region answers, through the national platform
        info = elsewhere["national"].identify(insuplc_admdvs=elsewhere["insuplc_admdvs"], day=call.day,
                                              **_credential(data))
        return info.as_1101()
    insured = service.identify(uow=call.uow, cert_type=text(data, "mdtrt_cert_type", max_length=2),
                               cert_no=text(data, "mdtrt_cert_no", max_length=2000), day=call.day)
    enrolment = insured.enrolment
    return {
        "baseinfo": {"psn_no": insured.psn_no, "psn_cert_type": "01", "certno": insured.certno,
                     "psn_name": insured.name, "gend": GENDERS.get(insured.gender, "9"),
                     "naty": "", "brdy": insured.birth_date.isoformat(),
                     "age": _age(insured.birth_date, call.day)},
        "insuinfo": [{
            "balc": yuan(insured.account_balance), "insutype": enrolment.scheme,
            "insutype_name": f"{enrolment.scheme_zh} / {enrolment.scheme_en}",
            "psn_type": _psn_type(enrolment.scheme, enrolment.retired),
            "psn_insu_stas": "1", "psn_insu_date": enrolment.start_date.isoformat(),
            "paus_insu_date": enrolment.end_date.isoformat() if enrolment.end_date else "",
            "cvlserv_flag": "0", "insuplc_admdvs": enrolment.insured_admdvs,
            "emp_name": enrolment.employer_name or ""}],
        "idetinfo": ([{"psn_idet_type": "assistance", "begntime": enrolment.start_date.isoformat()}]
                     if enrolment.assistance else []),
    }


@transaction("2001", "人员待遇享受检查", "benefit check")
def benefit_check(call: Call) -> dict:
    from yikatong.medical import service
    from yikatong.medical.errors import NotEnrolled

    data = call.data()
    person_id = _person_id(call, text(data, "psn_no", max_length=30))
    day = _date(data, "begntime", required=False) or call.day
    enrolment = service.enrolment_on(uow=call.uow, person_id=person_id, day=day)
    insutype = text(data, "insutype", required=False, max_length=3)
    if enrolment is None or (insutype and insutype != enrolment.scheme):
        raise NotEnrolled(day=day.isoformat())
    return {"trtinfo": [{"fund_pay_type": enrolment.scheme, "trt_enjymnt_flag": "1",
                         "begndate": enrolment.start_date.isoformat(),
                         "enddate": enrolment.end_date.isoformat() if enrolment.end_date else "",
                         "trt_chk_rslt": "享受待遇 / entitled"}]}


@transaction("1901", "目录下载", "catalogue download")
def catalogue_download(call: Call) -> dict:
    from yikatong.medical import service

    data = call.data()
    kind = text(data, "list_type", required=False, max_length=16) or None
    day = _date(data, "date", required=False) or call.day
    version, items = service.download_catalogue(day=day, kind=kind)
    return {"ver": version, "list": [{
        "med_list_codg": item.code, "med_list_name": item.name, "name_en": item.name_en,
        "list_type": item.kind, "chrgitm_lv": ITEM_CLASSES.get(item.item_class, "03"),
        "unit": item.unit, "hi_lmtpric": "" if item.price_limit is None else yuan(item.price_limit),
        "selfpay_prop": _ratio(item.pre_self_pay_bp),
    } for item in items]}


def _ratio(basis_points: int) -> str:
    """Basis points as the national ratio text: 1000 → "0.1000" (exact, no float)."""
    return f"{basis_points // 10_000}.{basis_points % 10_000:04d}"


@transaction("5206", "人员累计信息查询", "yearly totals of a person")
def cumulative_totals(call: Call) -> dict:
    import dataclasses

    from yikatong.medical import service

    data = call.data()
    person_id = _person_id(call, text(data, "psn_no", max_length=30))
    year_text = text(data, "cum_ym", required=False, max_length=6)[:4] or str(call.day.year)
    if not year_text.isdigit() or not 1990 <= int(year_text) <= 2200:
        raise env.EnvelopeInvalid(reason_zh="cum_ym 应为 yyyyMM", reason_en="cum_ym must be yyyyMM")
    totals = service.year_totals(uow=call.uow, person_id=person_id, year=int(year_text))
    cuminfo = []
    for item in dataclasses.fields(totals):
        value = getattr(totals, item.name)
        cuminfo.append({"year": year_text, "cum_type_code": item.name,
                        "cum": str(value) if item.name == "inpatient_admissions" else yuan(value)})
    return {"cuminfo": cuminfo}


FILING_KIND = {"1": "chronic", "2": "special", "chronic": "chronic", "special": "special"}


def _filing(view) -> dict:
    return {"trt_dcla_detl_sn": view.filing_no, "opsp_dise_code": view.disease_code,
            "opsp_dise_name": view.disease_name, "dise_type": view.kind,
            "begndate": view.begin_date.isoformat(),
            "enddate": view.end_date.isoformat() if view.end_date else ""}


@transaction("2503", "人员慢特病备案", "chronic or special disease filing", remembered=True)
def file_disease(call: Call) -> dict:
    from yikatong.medical import service

    data = call.data()
    person_id = _person_id(call, text(data, "psn_no", max_length=30))
    kind = FILING_KIND.get(text(data, "dise_type", required=False, max_length=8) or "1")
    if kind is None:
        raise env.EnvelopeInvalid(reason_zh="dise_type 应为 1（门慢）或 2（门特）",
                                  reason_en="dise_type must be 1 (chronic) or 2 (special)")
    view = service.file_disease(uow=call.uow, actor=call.actor, person_id=person_id, kind=kind,
                                disease_code=text(data, "opsp_dise_code", max_length=20),
                                disease_name=text(data, "opsp_dise_name", max_length=100),
                                begin_date=_date(data, "begndate"),
                                end_date=_date(data, "enddate", required=False))
    return {"result": _filing(view)}


@transaction("2504", "人员慢特病备案撤销", "revoke a disease filing", remembered=True)
def revoke_filing(call: Call) -> dict:
    from yikatong.medical import service

    data = call.data()
    _person_id(call, text(data, "psn_no", max_length=30))
    view = service.revoke_filing(uow=call.uow, actor=call.actor,
                                 filing_no=text(data, "trt_dcla_detl_sn", max_length=30))
    return {"result": _filing(view)}


# --- visits: outpatient, inpatient, pharmacy (medical.visits keeps each msgid's answer) ------------
MONEY_FIELDS_EXCEPT = frozenset({"pool_prop_selfpay"})  # basis points, not money


def _setlinfo(view) -> dict:
    """A settlement as the national setlinfo: amounts in yuan text, the ratio as text."""
    info = {name: (_ratio(value) if name in MONEY_FIELDS_EXCEPT else yuan(value))
            for name, value in view.setlinfo.items()}
    settled_at = view.settled_at
    info.update({
        "setl_id": view.setl_id or "", "mdtrt_id": view.mdtrt_id, "psn_no": view.psn_no,
        "insutype": view.insutype, "med_type": view.med_type, "mdtrt_cert_type": view.cert_type,
        "insuplc_admdvs": view.insuplc_admdvs, "mdtrtarea_admvs": view.mdtrtarea_admvs,
        "setl_time": env.beijing(settled_at) if settled_at else "",
        "clr_optins": view.insuplc_admdvs, "clr_way": "1", "clr_type": view.med_type,
        "medins_setl_id": view.medins_setl_id or "", "cross_region": view.cross_region,
        "policy_version": view.policy_version, "catalogue_version": view.catalogue_version,
        "setl_stas": view.state,
    })
    return info


def _visit(view) -> dict:
    return {"mdtrt_id": view.mdtrt_id, "psn_no": view.psn_no, "insutype": view.insutype,
            "med_type": view.med_type, "begntime": env.beijing(view.begin_at),
            "endtime": env.beijing(view.end_at) if view.end_at else ""}


def _elsewhere(call: Call) -> dict:
    """A person insured in another region (the envelope's insuplc_admdvs outside Changzhou): the
    region and the national platform the visit flow identifies and settles them through
    (visits.VISITOR visits); nothing for our own insured people."""
    from yikatong.medical import crossregion
    from yikatong.medical.home_office import national_for

    admdvs = call.envelope.insuplc_admdvs
    if not admdvs or crossregion.is_home(admdvs):
        return {}
    return {"insuplc_admdvs": admdvs, "national": national_for(call.platform)}


def _national(call: Call) -> dict:
    """The national platform for a settlement, cancellation or reversal (used only when the
    visit is a visitor's)."""
    from yikatong.medical.home_office import national_for

    return {"national": national_for(call.platform)}


def _credential(data: Mapping[str, Any]) -> dict:
    return {"cert_type": text(data, "mdtrt_cert_type", max_length=2),
            "cert_no": text(data, "mdtrt_cert_no", max_length=2000)}


def _use_account(data: Mapping[str, Any]) -> bool:
    flag = text(data, "acct_used_flag", required=False, max_length=1) or "1"
    if flag not in ("0", "1"):
        raise env.EnvelopeInvalid(reason_zh="acct_used_flag 应为 0 或 1",
                                  reason_en="acct_used_flag must be 0 or 1")
    return flag == "1"


def _sumamt(data: Mapping[str, Any]) -> int | None:
    value = data.get("medfee_sumamt")
    return None if value in (None, "") else fen(value, "medfee_sumamt")


def _fee_time(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise env.EnvelopeInvalid(reason_zh="fee_ocur_time 应为时间", reason_en="fee_ocur_time must be a time")
    try:
        return env.parse_beijing(value)
    except ValueError:
        raise env.EnvelopeInvalid(reason_zh="fee_ocur_time 格式应为 yyyy-MM-dd HH:mm:ss",
                                  reason_en="fee_ocur_time must be yyyy-MM-dd HH:mm:ss") from None


def _count(value: Any) -> int:
    try:
        amount = Decimal(str(value)) if not isinstance(value, bool) else None
    except ArithmeticError:
        amount = None
    if amount is None or not amount.is_finite() or amount != amount.to_integral_value() \
            or not 0 < amount <= 100_000:
        raise env.EnvelopeInvalid(reason_zh="cnt 应为 1 至 100000 的整数",
                                  reason_en="cnt must be a whole number from 1 to 100000")
    return int(amount)


def _upload(call: Call) -> dict:
    from yikatong.medical import visits

    details = call.envelope.input.get("feedetail")
    if not isinstance(details, list) or not details or not all(isinstance(d, Mapping) for d in details):
        raise env.EnvelopeInvalid(reason_zh="input.feedetail 应为费用明细列表",
                                  reason_en="input.feedetail must be a list of fee lines")
    mdtrt_ids = {text(d, "mdtrt_id", max_length=30) for d in details}
    if len(mdtrt_ids) != 1:
        raise env.EnvelopeInvalid(reason_zh="一次上传的明细应属于同一就诊",
                                  reason_en="the lines of one upload must belong to one visit")
    lines = [visits.FeeInput(
        feedetl_sn=text(d, "feedetl_sn", max_length=30),
        code=text(d, "med_list_codg", max_length=50), quantity=_count(d.get("cnt")),
        unit_price=fen(d.get("pric"), "pric"),
        amount=(None if d.get("det_item_fee_sumamt") in (None, "")
                else fen(d.get("det_item_fee_sumamt"), "det_item_fee_sumamt")),
        fee_at=_fee_time(d.get("fee_ocur_time"))) for d in details]
    view = visits.upload_fees(uow=call.uow, actor=call.actor, msgid=call.envelope.msgid,
                              mdtrt_id=mdtrt_ids.pop(), lines=lines)
    return {"result": [{
        "feedetl_sn": line.feedetl_sn, "med_list_codg": line.code, "med_list_name": line.name,
        "det_item_fee_sumamt": yuan(line.amount), "cnt": str(line.quantity),
        "pric": yuan(line.unit_price),
        "pric_uplmt_amt": "" if line.price_limit is None else yuan(line.price_limit),
        "selfpay_prop": _ratio(line.pre_self_pay_bp),
        "chrgitm_lv": ITEM_CLASSES.get(line.item_class, "03"),
        "chrg_bchno": call.envelope.msgid,  # what 2205 / 2302 names to withdraw this upload
        "catalogue_version": line.catalogue_version} for line in view.lines]}


def _withdraw_upload(call: Call, oinfno: str) -> dict:
    """2205 / 2302: the upload named by chrg_bchno (its msgid, as 2204 / 2301 answered it) is
    taken back through the reversal of that message."""
    from yikatong.medical import visits

    data = call.data()
    text(data, "mdtrt_id", max_length=30)
    view = visits.reverse(uow=call.uow, actor=call.actor, msgid=call.envelope.msgid,
                          omsgid=text(data, "chrg_bchno", max_length=30), oinfno=oinfno)
    return {"result": {"chrg_bchno": view.omsgid, "outcome": view.outcome}}


def _settle_input(call: Call) -> dict:
    data = call.data()
    return {"mdtrt_id": text(data, "mdtrt_id", max_length=30), **_credential(data),
            "use_account": _use_account(data), "medfee_sumamt": _sumamt(data)}


@transaction("2201", "门诊挂号", "outpatient registration")
def register(call: Call) -> dict:
    from yikatong.medical import visits

    data = call.data()
    view = visits.register(uow=call.uow, actor=call.actor, msgid=call.envelope.msgid,
                           **_credential(data), **_elsewhere(call),
                           med_type=text(data, "med_type", required=False, max_length=4) or "11",
                           dise_codg=text(data, "dise_codg", required=False, max_length=20) or None,
                           dept=text(data, "dept_name", required=False, max_length=64) or None)
    return {"data": {**_visit(view), "ipt_otp_no": text(data, "ipt_otp_no", required=False,
                                                        max_length=30)}}


@transaction("2202", "门诊挂号撤销", "withdraw an outpatient registration")
def withdraw_registration(call: Call) -> dict:
    """Taken back through the reversal of the registration's own message."""
    from yikatong.medical import visits
    from yikatong.medical.errors import VisitNotFound
    from yikatong.medical.models import Visit

    mdtrt_id = text(call.data(), "mdtrt_id", max_length=30)
    registration = call.uow.session.execute(
        select(Visit.msgid).where(Visit.mdtrt_id == mdtrt_id,
                                  Visit.fixmedins_code == call.code)).scalar_one_or_none()
    if registration is None:
        raise VisitNotFound(mdtrt_id=mdtrt_id)
    view = visits.reverse(uow=call.uow, actor=call.actor, msgid=call.envelope.msgid,
                          omsgid=registration, oinfno="2201")
    return {"result": {"mdtrt_id": mdtrt_id, "outcome": view.outcome}}


@transaction("2204", "门诊费用明细上传", "outpatient fee details")
def upload_outpatient_fees(call: Call) -> dict:
    return _upload(call)


@transaction("2205", "门诊费用明细撤销", "withdraw outpatient fee details")
def withdraw_outpatient_fees(call: Call) -> dict:
    return _withdraw_upload(call, "2204")


@transaction("2206", "门诊预结算", "outpatient pre-settlement")
def pre_settle_outpatient(call: Call) -> dict:
    from yikatong.medical import visits

    view = visits.pre_settle(uow=call.uow, actor=call.actor, msgid=call.envelope.msgid,
                             **_settle_input(call))
    return {"setlinfo": _setlinfo(view)}


@transaction("2207", "门诊结算", "outpatient settlement")
def settle_outpatient(call: Call) -> dict:
    from yikatong.medical import visits

    data = call.data()
    view = visits.settle(uow=call.uow, actor=call.actor, msgid=call.envelope.msgid,
                         medins_setl_id=text(data, "medins_setl_id", required=False,
                                             max_length=30) or None, **_settle_input(call), **_national(call))
    return {"setlinfo": _setlinfo(view)}


def _cancel(call: Call) -> dict:
    from yikatong.medical import visits

    data = call.data()
    view = visits.cancel(uow=call.uow, actor=call.actor, msgid=call.envelope.msgid,
                         setl_id=text(data, "setl_id", max_length=30),
                         mdtrt_id=text(data, "mdtrt_id", max_length=30), **_national(call))
    return {"setlinfo": _setlinfo(view)}


@transaction("2208", "门诊结算撤销", "cancel an outpatient settlement")
def cancel_outpatient(call: Call) -> dict:
    return _cancel(call)


@transaction("2401", "入院办理", "inpatient admission")
def admit(call: Call) -> dict:
    from yikatong.medical import visits

    data = call.data("mdtrtinfo")
    view = visits.admit(uow=call.uow, actor=call.actor, msgid=call.envelope.msgid,
                        **_credential(data), **_elsewhere(call),
                        dise_codg=text(data, "adm_diag_dscr", required=False, max_length=20) or None,
                        dept=text(data, "adm_dept_name", required=False, max_length=64) or None)
    return {"result": {**_visit(view), "ipt_otp_no": text(data, "ipt_no", required=False,
                                                          max_length=30)}}


@transaction("2402", "出院办理", "discharge")
def discharge(call: Call) -> dict:
    from yikatong.medical import visits

    data = call.data("dscginfo")
    view = visits.discharge(uow=call.uow, actor=call.actor, msgid=call.envelope.msgid,
                            mdtrt_id=text(data, "mdtrt_id", max_length=30),
                            dise_codg=text(data, "dise_codg", required=False, max_length=20) or None)
    return {"result": _visit(view)}


@transaction("2301", "住院费用明细上传", "inpatient fee details")
def upload_inpatient_fees(call: Call) -> dict:
    return _upload(call)


@transaction("2302", "住院费用明细撤销", "withdraw inpatient fee details")
def withdraw_inpatient_fees(call: Call) -> dict:
    return _withdraw_upload(call, "2301")


@transaction("2303", "住院预结算", "inpatient pre-settlement")
def pre_settle_inpatient(call: Call) -> dict:
    return pre_settle_outpatient(call)


@transaction("2304", "住院结算", "inpatient settlement")
def settle_inpatient(call: Call) -> dict:
    return settle_outpatient(call)


@transaction("2305", "住院结算撤销", "cancel an inpatient settlement")
def cancel_inpatient(call: Call) -> dict:
    return _cancel(call)


@transaction("2601", "冲正交易", "reversal")
def reverse(call: Call) -> dict:
    from yikatong.medical import visits

    data = call.data()
    view = visits.reverse(uow=call.uow, actor=call.actor, msgid=call.envelope.msgid,
                          omsgid=text(data, "omsgid", max_length=30),
                          oinfno=text(data, "oinfno", max_length=4), **_national(call))
    return {"result": {"omsgid": view.omsgid, "oinfno": view.oinfno, "outcome": view.outcome,
                       "detail": view.detail}}


# --- daily reconciliation (reconcile.py) ------------------------------------------------------
def _period(data: Mapping[str, Any]) -> tuple[date, date]:
    from yikatong.medical.reconcile import MAX_DAYS

    begin, end = _date(data, "stmt_begndate"), _date(data, "stmt_enddate")
    if end < begin or (end - begin).days >= MAX_DAYS:
        raise env.EnvelopeInvalid(reason_zh=f"对账期间应为 1 至 {MAX_DAYS} 天",
                                  reason_en=f"the period must be 1 to {MAX_DAYS} days")
    return begin, end


def _filters(data: Mapping[str, Any]) -> dict:
    return {"insutype": text(data, "insutype", required=False, max_length=3) or None,
            "med_type": text(data, "clr_type", required=False, max_length=4) or None}


def _in_yuan(figures: Mapping[str, int]) -> dict:
    return {name: (str(value) if name == "count" else yuan(value)) for name, value in figures.items()}


@transaction("3201", "医药机构费用结算对总账", "reconcile the totals")
def reconcile_totals(call: Call) -> dict:
    from yikatong.medical import reconcile

    data = call.data()
    begin, end = _period(data)
    theirs = reconcile.Totals(count=_count_of(data.get("fixmedins_setl_cnt")),
                              **{name: fen(data.get(national), national) for name, national in
                                 (("medfee_sumamt", "medfee_sumamt"),
                                  ("fund_pay_sumamt", "fund_pay_sumamt"),
                                  ("acct_pay", "acct_pay"), ("psn_cash_pay", "cash_payamt"))})
    ours = reconcile.platform_totals(uow=call.uow, fixmedins_code=call.code, begin=begin, end=end,
                                     **_filters(data))
    result = reconcile.compare_totals(ours, theirs)
    return {"stmtinfo": {
        "stmt_begndate": begin.isoformat(), "stmt_enddate": end.isoformat(),
        "stmt_rslt": "0" if result.agree else "1",
        "stmt_rslt_dscr": "对账一致 / agree" if result.agree else
        "对账不一致：" + "、".join(result.differences) + " / differ: " + ", ".join(result.differences),
        "platform": _in_yuan(ours.as_dict()), "institution": _in_yuan(theirs.as_dict()),
        "differences": _in_yuan(result.differences)}}


def _count_of(value: Any) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not -10**9 < value < 10**9:
        raise env.EnvelopeInvalid(reason_zh="fixmedins_setl_cnt 应为整数",
                                  reason_en="fixmedins_setl_cnt must be a whole number")
    return value


@transaction("3202", "医药机构费用结算对明细账", "reconcile the details")
def reconcile_details(call: Call) -> dict:
    from yikatong.medical import reconcile

    data = call.data()
    begin, end = _period(data)
    details = call.envelope.input.get("detail", [])
    if not isinstance(details, list) or not all(isinstance(d, Mapping) for d in details) \
            or len(details) > 100_000:
        raise env.EnvelopeInvalid(reason_zh="input.detail 应为结算明细列表",
                                  reason_en="input.detail must be a list of settlements")
    theirs = []
    for d in details:
        flag = text(d, "refd_setl_flag", required=False, max_length=1) or "0"
        if flag not in ("0", "1"):
            raise env.EnvelopeInvalid(reason_zh="refd_setl_flag 应为 0 或 1",
                                      reason_en="refd_setl_flag must be 0 or 1")
        theirs.append(reconcile.Record(
            setl_id=text(d, "setl_id", max_length=30), cancelled=flag == "1",
            medfee_sumamt=fen(d.get("medfee_sumamt"), "medfee_sumamt"),
            fund_pay_sumamt=fen(d.get("fund_pay_sumamt"), "fund_pay_sumamt"),
            acct_pay=fen(d.get("acct_pay"), "acct_pay"),
            psn_cash_pay=fen(d.get("cash_payamt"), "cash_payamt")))
    ours = reconcile.platform_details(uow=call.uow, fixmedins_code=call.code, begin=begin,
                                      end=end, **_filters(data))
    differences = reconcile.compare_details(ours, theirs)

    def side(record) -> dict | None:
        if record is None:
            return None
        return {"refd_setl_flag": "1" if record.cancelled else "0",
                **{name: yuan(getattr(record, name)) for name in reconcile.FIGURES}}

    return {"stmtinfo": {"stmt_begndate": begin.isoformat(), "stmt_enddate": end.isoformat(),
                         "stmt_rslt": "0" if not differences else "1",
                         "platform_cnt": str(len(ours)), "institution_cnt": str(len(theirs))},
            "detail": [{"setl_id": d.setl_id, "stmt_rslt": d.kind, "fields": list(d.fields),
                        "platform": side(d.platform), "institution": side(d.institution)}
                       for d in differences]}
