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

import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from yikatong.api.deps import current_actor, platform_dep
from yikatong.core.actor import Actor, Role
from yikatong.core.clock import CST
from yikatong.core.errors import DomainError, IdempotencyKeyReused, InvalidInput
from yikatong.crypto.protocols import KeyStore
from yikatong.db.idempotency import IdempotencyRecord, request_fingerprint
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


TRANSACTIONS: dict[str, Transaction] = {}


def transaction(infno: str, name_zh: str, name_en: str, *, signed_in: bool = True):
    def register(handler: Handler) -> Handler:
        TRANSACTIONS[infno] = Transaction(handler, name_zh, name_en, signed_in)
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
    from yikatong.medical import service

    return service.institution_secret(uow=uow, fixmedins_code=fixmedins_code)


# --- the door ------------------------------------------------------------------------------------
def call_service(platform: Platform, actor: Actor, body: Any, headers: Mapping[str, str]) -> dict:
    """Answer one message: the response envelope (never raises a refusal)."""
    received = platform.clock.now()
    envelope: Envelope | None = None
    try:
        envelope = env.parse_envelope(body)
        signature = env.check_headers(env.SignatureHeaders.of(headers))
        code = envelope.fixmedins_code
        if actor.role is not Role.MEDICAL_INSTITUTION or actor.branch_code != code \
                or signature.paasid != code:
            raise env.InstitutionMismatch()
        stored = _admit(platform, envelope, signature, body, received)
        if stored is not None:
            return stored
        found = TRANSACTIONS.get(envelope.infno)
        if found is None:
            raise env.UnknownInfno(infno=envelope.infno)
        with platform.uow() as uow:
            if found.signed_in:
                _check_signed_in(platform, uow, envelope, received)
            output = found.handler(Call(platform, uow, actor, envelope, received))
            answer = env.success(envelope, output, received=received,
                                 answered=platform.clock.now())
            return _remember(uow, envelope, answer)
    except DomainError as error:
        return env.failure(envelope, error, received=received, answered=platform.clock.now())
    except Exception as error:  # answered as infcode -9; the traceback is logged, not sent
        log.exception("medical interface: %s failed",
                      envelope.infno if envelope is not None else "a message", exc_info=error)
        return env.failure(envelope, error, received=received, answered=platform.clock.now())


def _admit(platform: Platform, envelope: Envelope, signature: env.SignatureHeaders, body: Any,
           received: datetime) -> dict | None:
    """Signature, nonce and msgid, in one transaction that spends the nonce: None to go on, or
    the stored first answer of this msgid."""
    code = envelope.fixmedins_code
    with platform.uow() as uow:
        secret = institution_secret(uow, code)
        env.verify_headers(signature, secret=secret, now=received)
        env.verify_body(body, secret=secret)
        uow.session.add(IdempotencyRecord(scope=NONCE_SCOPE + code, key=signature.nonce,
                                          request_hash=signature.timestamp, response={},
                                          created_at=received))
        try:
            uow.session.flush()
        except IntegrityError:
            raise env.NonceReplayed() from None
        try:
            stored = uow.replay(MESSAGE_SCOPE + code, envelope.msgid, _fingerprinted(envelope))
        except IdempotencyKeyReused as reused:  # this msgid carried another message
            stored, refusal = None, reused
        else:
            refusal = None
        try:
            uow.commit()  # the nonce is spent whatever the answer
        except IntegrityError:  # a concurrent request spent the same nonce first
            raise env.NonceReplayed() from None
    if refusal is not None:
        raise refusal
    return stored


def _fingerprinted(envelope: Envelope) -> dict:
    return {"infno": envelope.infno, "input": envelope.input}


def _remember(uow: UnitOfWork, envelope: Envelope, answer: dict) -> dict:
    """Store the answer under (institution, msgid) and commit; a concurrent first try of the
    same msgid that committed first wins, and its answer is the answer."""
    scope, request = MESSAGE_SCOPE + envelope.fixmedins_code, _fingerprinted(envelope)
    uow.remember(scope, envelope.msgid, request, answer)
    try:
        uow.commit()
    except IntegrityError as error:
        stored = uow.replay(scope, envelope.msgid, request)
        if stored is None:
            raise error
        return stored
    return answer


def _check_signed_in(platform: Platform, uow: UnitOfWork, envelope: Envelope,
                     received: datetime) -> None:
    day = received.astimezone(CST).date()
    if not sign_no_valid(_sign_no_key(platform), envelope.sign_no,
                         fixmedins_code=envelope.fixmedins_code, day=day):
        raise env.NotSignedIn()
    if _signed_out(uow, envelope.sign_no):
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
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidInput(reason_zh="报文过大", reason_en="message too large")
    try:
        body = json.loads(raw, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(reason_zh="报文不是 JSON", reason_en="the message is not JSON") from None
    return await run_in_threadpool(call_service, platform, actor, body, request.headers)


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
@transaction("9001", "签到", "sign in", signed_in=False)
def sign_in(call: Call) -> dict:
    call.data("signIn")  # opter_no, mac, ip: recorded by the audit of the message
    sign_no = make_sign_no(_sign_no_key(call.platform), fixmedins_code=call.code, day=call.day)
    call.uow.audit(actor=call.actor, action="medical.sign_in", entity_type="medical_institution",
                   entity_id=call.code, after={"day": call.day.isoformat(),
                                               "opter": call.envelope.opter,
                                               "msgid": call.envelope.msgid})
    return {"signinoutb": {"sign_time": env.beijing(call.received), "sign_no": sign_no}}


@transaction("9002", "签退", "sign out", signed_in=False)
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

