"""The e-card API (电子社保卡).

Who may do what: the holder acts on their own e-card only (consent per channel, re-authorise
after a loss, password, QR codes); anyone may read the channel list, the signing keys and
the signed status lists and check a shown code (`POST /verify`, masked data only); counters
and terminals of operators redeem a code for one business transaction; the card centre (and
outlet or 12333 staff) look an e-card up.
"""

from __future__ import annotations

from collections.abc import Callable
from email.utils import format_datetime
from typing import TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from yikatong.api.deps import current_actor, platform_dep
from yikatong.api.lean_posts import answered_in_front
from yikatong.auth.access import TERMINALS
from yikatong.auth.throttle import throttled_per_credential, throttled_per_credential_or_address
from yikatong.core.actor import Actor, Role
from yikatong.crypto.protocols import KeyStore
from yikatong.db.raw import AnsweredOnlyUnitOfWork, NotAnswered, answered
from yikatong.db.uow import UnitOfWork
from yikatong.ecard import qr, rules, service
from yikatong.ecard.schemas import (
    ChannelInfoOut,
    CodeSentOut,
    EcardOut,
    PasswordIn,
    PasswordResetIn,
    PublicKeyOut,
    QrIn,
    QrOut,
    ReauthoriseIn,
    RedeemIn,
    VerificationOut,
    VerifyIn,
)
from yikatong.platform import Platform

router = APIRouter(prefix="/ecard", tags=["ecard 电子社保卡"])

T = TypeVar("T")


def ecard_out(view: service.EcardView) -> EcardOut:
    return EcardOut.model_validate(view)


def verification_out(result: service.Verification) -> VerificationOut:
    return VerificationOut.model_validate(result)


def _keys(platform: Platform) -> KeyStore:
    return platform.get(KeyStore)


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None


# --- public -------------------------------------------------------------------------------


@router.get("/channels", response_model=list[ChannelInfoOut],
            summary="Channels the e-card is issued to / 电子社保卡同步申领渠道")
def list_channels(platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return [ChannelInfoOut(**vars(c)) for c in service.channels(uow=uow)]


@router.get("/keys", response_model=list[PublicKeyOut],
            summary="The platform's e-card signing public keys for terminals / 验签公钥")
def public_keys(platform: Platform = Depends(platform_dep)):
    return [PublicKeyOut(key_version=info.version, status=str(info.status),
                         algorithm=info.algorithm, public_key_hex=info.public_key_hex)
            for info in service.public_keys(_keys(platform))]


@router.get("/status/{purpose}",
            summary="Signed status list (suspension | revocation) for offline terminals / 状态名单")
def status_list(purpose: str, request: Request, platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        published = service.get_status_list(uow=uow, purpose=purpose, keys=_keys(platform))
    etag = f'"{published.etag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={int(rules.STATUS_LIST_MAX_AGE.total_seconds())}",
        "Last-Modified": format_datetime(published.built_at, usegmt=True),
        "Expires": format_datetime(published.valid_until, usegmt=True),
    }
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return JSONResponse(published.credential, headers=headers)


@router.post("/verify", response_model=VerificationOut,
             summary="Is a shown code genuine and current? (public, masked data) / 验证二维码",
             dependencies=[throttled_per_credential_or_address(
                 "ecard_terminal", "ecard_check", TERMINALS)])
@answered_in_front  # in front of the middleware stack, same bytes (api.lean_posts)
async def verify(body: VerifyIn, platform: Platform = Depends(platform_dep)):
    token = body.token.strip()
    answer = await _verify_on_loop(platform, token)
    if answer is None:
        # One thread-pool hop for the selects, the signature check and the answer, which is
        # built there once: a sync route would take a second hop to validate its answer.
        answer = await run_in_threadpool(_verify, platform, token)
    return answer


def _verify(platform: Platform, token: str) -> VerificationOut:
    # At READ COMMITTED a statement sees inside a transaction what it sees on its own: no
    # BEGIN and ROLLBACK on PostgreSQL (Platform.statement_read_uow).
    with platform.statement_read_uow() as uow:
        return verification_out(service.read_verification(uow=uow, token=token,
                                                           keys=_keys(platform)))


async def _verify_on_loop(platform: Platform, token: str) -> VerificationOut | None:
    """The whole check on the event loop: the signature, then the check's selects in one
    statement on the loop's own connection (service.check_trip; PostgreSQL's, or a SQLite
    file's, where a statement outside a transaction reads one snapshot as the thread's read
    transaction does) and the checks on its rows. None where that cannot be (an in-memory
    database, no loop connection, a select the statement did not answer): the caller checks
    on a thread, from the start."""
    reads = platform.loop_reads()
    on_sqlite = platform.sqlite_loop_reads() if reads is None else None
    if reads is None and on_sqlite is None:
        return None
    claims = service.claims_or_verdict(token=token, keys=_keys(platform))
    if isinstance(claims, service.Verification):
        return verification_out(claims)
    trip = service.check_trip(claims)
    found = await reads.answers(trip) if reads is not None else on_sqlite.answers(trip)
    checked = _on_rows(platform, found,
                       lambda uow: service.verification_of(uow=uow, claims=claims))
    return None if checked is None else verification_out(checked)


def _on_rows(platform: Platform, found: dict | None, use_case: Callable[[UnitOfWork], T]
             ) -> T | None:
    """`use_case` on the rows a statement on the event loop fetched (db.raw.answered), with
    no database behind them; None if there are none or the use case asked for more."""
    if found is None:
        return None
    uow = AnsweredOnlyUnitOfWork(platform.engine.dialect, platform.clock, seams=platform)
    try:
        with uow, answered(found):
            return use_case(uow)
    except NotAnswered:
        return None


# --- terminals and counters -----------------------------------------------------------------


@router.post("/redeem", response_model=VerificationOut,
             summary="Accept a code for one business transaction / 受理电子社保卡二维码",
             dependencies=[throttled_per_credential("ecard_terminal")])
@answered_in_front  # in front of the middleware stack, same bytes (api.lean_posts)
async def redeem(body: RedeemIn, actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    redeemed = await _redeem_on_loop(platform, actor, body)
    if redeemed is None:
        # One thread-pool hop for the transaction and the answer, built there: a sync route
        # would take a second hop to validate its answer.
        return await run_in_threadpool(_redeem, platform, actor, body)
    return redeemed


async def _redeem_on_loop(platform: Platform, actor: Actor, body: RedeemIn
                          ) -> VerificationOut | None:
    """A redeem's checks on the event loop, from one statement on the loop's own connection:
    on PostgreSQL (`service.redeem_trip`: the check's selects and the e-card's audit chain
    head) the checks on its rows (raising what `redeem_token` raises), then what it writes
    (`service.redeem_write`: the use, the audit record and its key, one autocommit statement,
    its own transaction), no thread-pool hop. On a SQLite file the same checks from
    `service.check_trip`'s rows, then the use and its audit record in one transaction on a
    thread (`_record_redeem`: its commit waits for the disk, which the loop must not).
    None where the checks cannot run there: then all of the redeem runs on a thread."""
    reads = platform.loop_reads()
    on_sqlite = platform.sqlite_loop_reads() if reads is None else None
    if reads is None and on_sqlite is None:
        return None
    claims = service.genuine_for_redeem(token=body.token.strip(), business=body.business,
                                        keys=_keys(platform))
    if on_sqlite is not None:
        return await _redeem_checked_on_sqlite_loop(platform, actor, body, claims, on_sqlite)
    trip = await reads.answers(service.redeem_trip(claims))
    redeemable = _on_rows(platform, trip and trip.found,
                          lambda uow: service.check_redeemable(uow=uow, claims=claims))
    if redeemable is None:
        return None
    statement, params = service.redeem_write(
        actor=actor, redeemable=redeemable, business=body.business,
        terminal_id=body.terminal_id, head=trip.head, now=platform.clock.now())
    try:
        written = await reads.write(statement, params)
    except IntegrityError as error:
        raise service.redeem_refusal(error) from None
    if written is None:  # no connection to write on (nothing sent): the thread's way
        return await run_in_threadpool(_record_redeem, platform, actor, body, redeemable)
    return verification_out(service.redeemed(redeemable))


async def _redeem_checked_on_sqlite_loop(platform: Platform, actor: Actor, body: RedeemIn,
                                         claims, on_sqlite) -> VerificationOut | None:
    """On a SQLite file, a genuine code's checks on the loop (the check door's one statement,
    one snapshot of the file, as the thread's transaction read it) and one hop for the use,
    its audit record (chained to the head read in that transaction, so two redeems of one
    e-card queue at the write lock as before rather than collide) and the commit. The checks
    read before the write transaction begins, as on PostgreSQL at READ COMMITTED: the unique
    nonce still refuses a use recorded in between. None where the checks cannot run there."""
    redeemable = _on_rows(platform, on_sqlite.answers(service.check_trip(claims)),
                          lambda uow: service.check_redeemable(uow=uow, claims=claims))
    if redeemable is None:
        return None
    return await run_in_threadpool(_record_redeem, platform, actor, body, redeemable)


def _redeem(platform: Platform, actor: Actor, body: RedeemIn) -> VerificationOut:
    with platform.uow() as uow:
        return verification_out(service.redeem_token(
            uow=uow, actor=actor, token=body.token.strip(), business=body.business,
            terminal_id=body.terminal_id, keys=_keys(platform)))


def _record_redeem(platform: Platform, actor: Actor, body: RedeemIn,
                   redeemable: service.Redeemable) -> VerificationOut:
    """The use and its audit record, in one transaction on a thread."""
    with platform.uow() as uow:
        return verification_out(service.record_redeem(
            uow=uow, actor=actor, redeemable=redeemable, business=body.business,
            terminal_id=body.terminal_id))


@router.get("/lookup", response_model=EcardOut, summary="Look an e-card up / 查询电子社保卡")
def lookup(ssn: str | None = Query(default=None, max_length=32),
           card_no: str | None = Query(default=None, max_length=16),
           ecard_no: str | None = Query(default=None, max_length=16),
           actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ecard_out(service.find_ecard(uow=uow, ssn=ssn, card_no=card_no, ecard_no=ecard_no))


# --- the holder -------------------------------------------------------------------------------


@router.get("/me", response_model=EcardOut, summary="My e-card / 我的电子社保卡")
def my_ecard(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ecard_out(service.get_ecard(uow=uow, person_id=_person(actor)))


@router.post("/me/channels/{channel}/consent", response_model=EcardOut,
             summary="Consent to use the e-card on a channel / 授权渠道使用")
def grant_consent(channel: str, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ecard_out(service.grant_consent(uow=uow, actor=actor, channel=channel,
                                               keys=_keys(platform)))


@router.delete("/me/channels/{channel}/consent", response_model=EcardOut,
               summary="Withdraw consent on a channel / 取消渠道授权")
def withdraw_consent(channel: str, actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ecard_out(service.withdraw_consent(uow=uow, actor=actor, channel=channel,
                                                  keys=_keys(platform)))


@router.post("/me/channels/{channel}/reauthorise", response_model=EcardOut,
             summary="Re-authorise after the card was reported lost / 挂失后重新授权")
def reauthorise(channel: str, body: ReauthoriseIn, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ecard_out(service.reauthorise(uow=uow, actor=actor, channel=channel,
                                             password=_secret(body.password),
                                             keys=_keys(platform)))


@router.put("/me/password", response_model=EcardOut,
            summary="Set or change the e-card password / 设置或修改电子社保卡密码")
def set_password(body: PasswordIn, actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ecard_out(service.set_password(uow=uow, actor=actor,
                                              new_password=_secret(body.new_password),
                                              old_password=_secret(body.old_password)))


@router.post("/me/password/reset/code", response_model=CodeSentOut, status_code=202,
             summary="Text a password-reset code to the phone on file / 发送重置密码验证码")
def send_reset_code(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        sent_to = service.send_reset_code(uow=uow, actor=actor)
        uow.commit()
    return CodeSentOut(sent_to=sent_to)


@router.post("/me/password/reset", response_model=EcardOut,
             summary="Reset the password with a texted code or a real-name check / 验证身份后重置密码")
def reset_password(body: PasswordResetIn, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    from yikatong.applications.protocols import IdentityAuthenticator

    with platform.uow() as uow:
        return ecard_out(service.reset_password(
            uow=uow, actor=actor, proof=body.proof, new_password=_secret(body.new_password),
            code=getattr(body, "code", None), name=getattr(body, "name", None),
            id_number=getattr(body, "id_number", None), evidence=getattr(body, "evidence", None),
            authenticator=platform.get(IdentityAuthenticator)))


@router.post("/qr", response_model=QrOut, summary="Show a QR code (60 s) / 出示电子社保卡二维码")
def issue_qr(body: QrIn, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    issued = _issue(platform, actor, body.channel, _secret(body.password))
    return QrOut.model_validate(issued)


@router.get("/qr.png", summary="A fresh QR code as PNG (within the password session) / 二维码图片",
            response_class=Response)
def qr_png(channel: str = Query(max_length=40), actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    issued = _issue(platform, actor, channel, None)
    return Response(qr.render_png(issued.token), media_type="image/png",
                    headers=_image_headers(issued))


@router.get("/qr.svg", summary="A fresh QR code as SVG (within the password session) / 二维码矢量图",
            response_class=Response)
def qr_svg(channel: str = Query(max_length=40), actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    issued = _issue(platform, actor, channel, None)
    return Response(qr.render_svg(issued.token), media_type="image/svg+xml",
                    headers=_image_headers(issued))


def _issue(platform: Platform, actor: Actor, channel: str, password: str | None):
    with platform.uow() as uow:
        return service.issue_qr(uow=uow, actor=actor, channel=channel, password=password,
                                keys=_keys(platform))


def _image_headers(issued: service.IssuedQr) -> dict[str, str]:
    return {"Cache-Control": "no-store", "X-Ykt-Expires-At": issued.expires_at.isoformat(),
            "X-Ykt-Refresh-At": issued.refresh_at.isoformat()}


def _person(actor: Actor) -> int:
    from yikatong.core.errors import Forbidden

    if actor.role != Role.HOLDER or actor.person_id is None:
        raise Forbidden(zh="只有持卡人本人可以查看", en="Only the holder may see this")
    return actor.person_id
