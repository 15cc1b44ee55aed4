"""The national medical insurance platform's message envelope and request signature (pure).

A designated institution (定点医药机构) sends every message as one JSON envelope
(docs/medical-interface.md): `infno` names the transaction, `msgid` (30 characters: the institution's
`fixmedins_code`, `yyyyMMddHHmmss` in Beijing time, a 4-digit sequence) identifies this one
message, `input` carries the transaction's own fields. The answer is the response envelope:
`infcode` 0 for success, otherwise non-zero with `err_msg` (Chinese / English) and `err_code`
(the stable machine code of the refusal), and `output`.

The request is signed in the HMAC header scheme of the national platform's gateway:
`x-tif-paasid` (the institution code), `x-tif-timestamp` (Unix seconds), `x-tif-nonce`
(a one-time random string), `x-tif-signature` = hex SHA-256 of
`timestamp + secret + nonce + timestamp`. With `signtype` "SM3" the envelope itself is signed
too: `cainfo` = hex SM3 of the canonical envelope (without `cainfo`) followed by the secret,
so the body cannot be altered under a valid header signature.

Nothing here reads a database or a clock: the caller passes `now` and the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from yikatong.core.clock import CST
from yikatong.core.errors import DomainError
from yikatong.crypto.sm import sm3

# --- infcode: the outcome of a message ------------------------------------------------------
SUCCESS = 0
REFUSED = -1            # a business rule refused the message (the national platform's -1)
MALFORMED = -2          # the envelope or its input is not well formed
SIGNATURE_REFUSED = -3  # signature, timestamp, nonce or institution identity refused
NOT_SIGNED_IN = -4      # no valid sign_no (9001) of this institution for today
INTERNAL = -9           # the platform failed; the message may be sent again with its msgid

MAX_SKEW = timedelta(minutes=5)  # a timestamp further from the platform's clock is stale
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")
FIXMEDINS_CODE = re.compile(r"^[A-Z][0-9A-Z]{11}$")   # e.g. H32040200001 (12 characters)
ADMDVS = re.compile(r"^[0-9]{6}$")
INFNO = re.compile(r"^[0-9]{4}[A-Z]?$")
SIGN_TYPES = ("", "SM2", "SM3", "HMAC")  # SM2 is accepted as a label; only SM3 is verified
OPTER_TYPES = ("1", "2", "3")            # staff, self-service terminal, mobile


# --- refusals of the interface itself ---------------------------------------------------------
class InterfaceError(DomainError):
    """A refusal of the institution interface; `infcode` is what the envelope answers."""

    code = "medical_interface_refused"
    infcode: ClassVar[int] = REFUSED


class EnvelopeInvalid(InterfaceError):
    code = "medical_envelope_invalid"
    http_status = 422
    infcode = MALFORMED
    zh = "报文格式不正确：{reason_zh}"
    en = "Malformed message: {reason_en}"


class UnknownInfno(InterfaceError):
    code = "medical_unknown_infno"
    http_status = 422
    infcode = MALFORMED
    zh = "不支持的交易编号 {infno}"
    en = "Transaction code {infno} is not supported"


class SignatureMissing(InterfaceError):
    code = "medical_signature_missing"
    http_status = 401
    infcode = SIGNATURE_REFUSED
    zh = "请求未签名（缺少 {header}）"
    en = "The request is not signed ({header} missing)"


class SignatureInvalid(InterfaceError):
    code = "medical_signature_invalid"
    http_status = 401
    infcode = SIGNATURE_REFUSED
    zh = "签名验证失败"
    en = "The signature does not verify"


class TimestampStale(InterfaceError):
    code = "medical_timestamp_stale"
    http_status = 401
    infcode = SIGNATURE_REFUSED
    zh = "请求时间戳超出允许范围（±{minutes} 分钟）"
    en = "The request timestamp is outside the allowed window (±{minutes} min)"


class NonceReplayed(InterfaceError):
    code = "medical_nonce_replayed"
    http_status = 401
    infcode = SIGNATURE_REFUSED
    zh = "随机数已使用过（疑似重放）"
    en = "The nonce was already used (a replayed request)"


class InstitutionMismatch(InterfaceError):
    code = "medical_institution_mismatch"
    http_status = 403
    infcode = SIGNATURE_REFUSED
    zh = "机构编码与登录凭证或签名不一致"
    en = "The institution code does not match the credential or the signature"


class NotSignedIn(InterfaceError):
    code = "medical_not_signed_in"
    http_status = 401
    infcode = NOT_SIGNED_IN
    zh = "未签到或签到号无效，请先签到（9001）"
    en = "Not signed in or the sign_no is not valid; sign in first (9001)"


def infcode_of(error: Exception) -> int:
    """The envelope's infcode for a refusal: the interface's own, else by the kind of problem."""
    if isinstance(error, InterfaceError):
        return error.infcode
    national = getattr(error, "national_code", None)  # a domain error that names its own
    if isinstance(national, int) and not isinstance(national, bool) and national != 0:
        return national
    if isinstance(error, DomainError):
        if error.http_status in (401, 403):
            return SIGNATURE_REFUSED
        if error.http_status == 422:
            return MALFORMED
        if error.http_status >= 500:
            return INTERNAL
        return REFUSED
    return INTERNAL


# --- the request envelope --------------------------------------------------------------------
@dataclass(frozen=True)
class Envelope:
    infno: str
    msgid: str
    mdtrtarea_admvs: str
    insuplc_admdvs: str
    recer_sys_code: str
    dev_no: str
    dev_safe_info: str
    cainfo: str
    signtype: str
    infver: str
    opter_type: str
    opter: str
    opter_name: str
    inf_time: datetime          # aware (Beijing time as sent)
    fixmedins_code: str
    fixmedins_name: str
    sign_no: str
    input: dict[str, Any] = field(default_factory=dict)

    @property
    def msg_time(self) -> datetime:
        """The time written into the msgid (Beijing time, aware)."""
        return _parse_compact(self.msgid[12:26])


REQUIRED = ("infno", "msgid", "mdtrtarea_admvs", "fixmedins_code", "inf_time")
OPTIONAL = ("insuplc_admdvs", "recer_sys_code", "dev_no", "dev_safe_info", "cainfo", "signtype",
            "infver", "opter_type", "opter", "opter_name", "fixmedins_name", "sign_no")
MAX_TEXT = 200


def _invalid(zh: str, en: str) -> EnvelopeInvalid:
    return EnvelopeInvalid(reason_zh=zh, reason_en=en)


def _parse_compact(text: str) -> datetime:
    """yyyyMMddHHmmss (Beijing time). Fourteen ASCII digits are read by position: strptime can
    only split them 4-2-2-2-2-2 too (no field takes more than two digits and all must be used),
    so the time and the ValueError of an impossible one are strptime's, without its regular
    expression and locale machinery (a message parses two or three such times)."""
    if len(text) == 14 and text.isascii() and text.isdigit():
        return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                        int(text[12:14]), tzinfo=CST)
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=CST)


_SEPARATORS = ((4, "-"), (7, "-"), (10, " "), (13, ":"), (16, ":"))


def parse_beijing(text: str) -> datetime:
    """yyyy-MM-dd HH:mm:ss (Beijing time, aware), as strptime reads it (its ValueError too);
    the usual 19 characters with two-digit fields are read by position (the same parse)."""
    if len(text) == 19 and text.isascii() and all(text[at] == mark for at, mark in _SEPARATORS) \
            and (text[:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:]).isdigit():
        return datetime(int(text[:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]),
                        int(text[17:]), tzinfo=CST)
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST)


def check_msgid(msgid: str, fixmedins_code: str) -> None:
    """msgid = fixmedins_code (12) + yyyyMMddHHmmss (14) + 4-digit sequence: 30 characters."""
    if not isinstance(msgid, str) or len(msgid) != 30:
        raise _invalid("msgid 应为 30 位", "msgid must be 30 characters")
    if msgid[:12] != fixmedins_code:
        raise _invalid("msgid 前 12 位应为机构编码", "msgid must start with the fixmedins_code")
    stamp, seq = msgid[12:26], msgid[26:]
    if not stamp.isdigit() or not seq.isdigit() or not seq.isascii() or not stamp.isascii():
        raise _invalid("msgid 时间与序号应为数字", "msgid time and sequence must be digits")
    try:
        _parse_compact(stamp)
    except ValueError:
        raise _invalid("msgid 中的时间无效", "msgid carries an invalid time") from None


def _inf_time(value: Any) -> datetime:
    """`inf_time` as the national platform writes it: "yyyy-MM-dd HH:mm:ss" (Beijing time);
    an ISO 8601 time with an offset is accepted too."""
    if not isinstance(value, str):
        raise _invalid("inf_time 应为时间字符串", "inf_time must be a time string")
    try:
        parsed = parse_beijing(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _invalid("inf_time 格式应为 yyyy-MM-dd HH:mm:ss",
                           "inf_time must be yyyy-MM-dd HH:mm:ss") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=CST)
    return parsed


def parse_envelope(body: Mapping[str, Any]) -> Envelope:
    """The request envelope, checked: required fields present, codes well formed, the msgid
    belonging to the sending institution. Raises EnvelopeInvalid naming the field."""
    if not isinstance(body, Mapping):
        raise _invalid("报文应为 JSON 对象", "the message must be a JSON object")
    values: dict[str, Any] = {}
    for name in REQUIRED + OPTIONAL:
        value = body.get(name)
        if value is None or value == "":
            if name in REQUIRED:
                raise _invalid(f"缺少字段 {name}", f"field {name} is missing")
            value = ""
        if name != "inf_time":
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise _invalid(f"字段 {name} 应为不超过 {MAX_TEXT} 字的字符串",
                               f"field {name} must be a string of at most {MAX_TEXT} characters")
        values[name] = value
    if not INFNO.match(values["infno"]):
        raise _invalid("infno 应为 4 位交易编号", "infno must be a 4-digit transaction code")
    if not FIXMEDINS_CODE.match(values["fixmedins_code"]):
        raise _invalid("fixmedins_code 应为 12 位机构编码",
                       "fixmedins_code must be a 12-character institution code")
    check_msgid(values["msgid"], values["fixmedins_code"])
    for name in ("mdtrtarea_admvs", "insuplc_admdvs"):
        if values[name] and not ADMDVS.match(values[name]):
            raise _invalid(f"{name} 应为 6 位行政区划代码",
                           f"{name} must be a 6-digit administrative division code")
    if values["signtype"].upper() not in SIGN_TYPES:
        raise _invalid("signtype 应为 SM3、SM2 或留空", "signtype must be SM3, SM2 or empty")
    values["signtype"] = values["signtype"].upper()
    if values["opter_type"] and values["opter_type"] not in OPTER_TYPES:
        raise _invalid("opter_type 应为 1、2 或 3", "opter_type must be 1, 2 or 3")
    values["inf_time"] = _inf_time(values["inf_time"])
    payload = body.get("input")
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise _invalid("input 应为 JSON 对象", "input must be a JSON object")
    return Envelope(**values, input=dict(payload))


# --- the response envelope -------------------------------------------------------------------
def beijing(moment: datetime) -> str:
    """A time as the national platform writes it: yyyy-MM-dd HH:mm:ss, Beijing time."""
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def reference_msgid(*, admdvs: str, fixmedins_code: str, msgid: str) -> str:
    """The platform's own id for its answer (`inf_refmsgid`, 30 characters): the care area's
    division code, the message's time (from its msgid), 10 hex characters from the
    institution's message id: the same each time that message is answered."""
    digest = hashlib.sha256(f"{fixmedins_code}|{msgid}".encode()).hexdigest()[:10].upper()
    return (admdvs or "000000")[:6] + msgid[12:26] + digest


def success(envelope: Envelope, output: Mapping[str, Any], *, received: datetime,
            answered: datetime, warn_msg: str = "") -> dict[str, Any]:
    return _response(envelope, infcode=SUCCESS, output=dict(output), err_msg="", err_code="",
                     warn_msg=warn_msg, received=received, answered=answered)


def failure(envelope: Envelope | None, error: Exception, *, received: datetime,
            answered: datetime) -> dict[str, Any]:
    """The answer to a refused message: infcode non-zero, err_msg "中文 / English", err_code
    the stable machine code; output empty."""
    if isinstance(error, DomainError):
        message, code = f"{error.message_zh} / {error.message_en}", error.code
    else:
        message, code = "服务器内部错误，请稍后重试 / Internal server error; please try again later", \
            "internal_error"
    return _response(envelope, infcode=infcode_of(error), output={}, err_msg=message,
                     err_code=code, warn_msg="", received=received, answered=answered)


def _response(envelope: Envelope | None, *, infcode: int, output: dict, err_msg: str,
              err_code: str, warn_msg: str, received: datetime, answered: datetime) -> dict:
    refmsgid = ""
    if envelope is not None:
        refmsgid = reference_msgid(admdvs=envelope.mdtrtarea_admvs,
                                   fixmedins_code=envelope.fixmedins_code, msgid=envelope.msgid)
    return {
        "infcode": infcode,
        "inf_refmsgid": refmsgid,
        "refmsg_time": beijing(received),
        "respond_time": beijing(answered),
        "err_msg": err_msg,
        "err_code": err_code,
        "warn_msg": warn_msg,
        "cainfo": "",
        "signtype": "",
        "output": output,
    }


# --- the request signature -------------------------------------------------------------------
@dataclass(frozen=True)
class SignatureHeaders:
    paasid: str | None
    timestamp: str | None
    nonce: str | None
    signature: str | None

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> SignatureHeaders:
        return cls(paasid=headers.get("x-tif-paasid"), timestamp=headers.get("x-tif-timestamp"),
                   nonce=headers.get("x-tif-nonce"), signature=headers.get("x-tif-signature"))


def header_signature(*, timestamp: str, secret: str, nonce: str) -> str:
    """x-tif-signature: hex SHA-256 of timestamp + secret + nonce + timestamp."""
    return hashlib.sha256(f"{timestamp}{secret}{nonce}{timestamp}".encode()).hexdigest()


def signed_headers(*, paasid: str, secret: str, nonce: str, now: datetime) -> dict[str, str]:
    """The four headers an institution sends (used by tests, the benchmark and the docs)."""
    timestamp = str(int(now.timestamp()))
    return {"x-tif-paasid": paasid, "x-tif-timestamp": timestamp, "x-tif-nonce": nonce,
            "x-tif-signature": header_signature(timestamp=timestamp, secret=secret, nonce=nonce)}


def check_headers(headers: SignatureHeaders) -> SignatureHeaders:
    """All four present and well formed (before any secret is looked up)."""
    for name, value in (("x-tif-paasid", headers.paasid), ("x-tif-timestamp", headers.timestamp),
                        ("x-tif-nonce", headers.nonce), ("x-tif-signature", headers.signature)):
        if not value:
            raise SignatureMissing(header=name)
    if not headers.timestamp.isascii() or not headers.timestamp.isdigit() \
            or len(headers.timestamp) > 12:
        raise SignatureInvalid()
    if not NONCE_PATTERN.match(headers.nonce):
        raise SignatureInvalid()
    return headers


def verify_headers(headers: SignatureHeaders, *, secret: str, now: datetime,
                   max_skew: timedelta = MAX_SKEW) -> None:
    """The header signature of one request: the timestamp within `max_skew` of `now` (either
    way), the signature that of this secret. The nonce's single use is the caller's (it needs
    the database shared by every worker)."""
    check_headers(headers)
    sent = datetime.fromtimestamp(int(headers.timestamp), tz=UTC)
    if abs(now - sent) > max_skew:
        raise TimestampStale(minutes=int(max_skew.total_seconds() // 60))
    expected = header_signature(timestamp=headers.timestamp, secret=secret, nonce=headers.nonce)
    if not hmac.compare_digest(expected, headers.signature.lower()):
        raise SignatureInvalid()


def canonical(body: Mapping[str, Any]) -> bytes:
    """The envelope as signed with signtype SM3: every field but `cainfo`, keys sorted,
    no spaces, UTF-8 (not ASCII-escaped)."""
    unsigned = {key: value for key, value in body.items() if key != "cainfo"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def body_signature(body: Mapping[str, Any], *, secret: str) -> str:
    """cainfo for signtype SM3: hex SM3 of the canonical envelope followed by the secret."""
    return sm3(canonical(body) + secret.encode()).hex()


def verify_body(body: Mapping[str, Any], *, secret: str) -> None:
    """With signtype SM3, `cainfo` must be the body signature; other sign types carry none."""
    if str(body.get("signtype") or "").upper() != "SM3":
        return
    cainfo = body.get("cainfo")
    if not isinstance(cainfo, str) or not cainfo:
        raise SignatureMissing(header="cainfo")
    if not hmac.compare_digest(body_signature(body, secret=secret), cainfo.lower()):
        raise SignatureInvalid()
