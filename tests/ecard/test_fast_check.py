"""The public check door's plain-select path (`service.read_verification`, behind
`POST /api/v1/ecard/verify`) answers exactly what the ORM path (`service.verify_token`, still
used by the HTML page, medical and HR services) answers, for a code in every state an
e-card and a code can be in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.responses import JSONResponse
from tests.applications.conftest import ADMIN, pickup
from tests.ecard.conftest import new_card_by_application, redeem

from yikatong.cards import service as cards
from yikatong.core.actor import Role
from yikatong.crypto.protocols import KeyStore
from yikatong.crypto.sm2 import Sm2Signer, generate_keypair
from yikatong.ecard import service
from yikatong.ecard.api import verification_out
from yikatong.ecard.tokens import TokenClaims, issue_token, read_genuine

pytestmark = pytest.mark.db


def both_paths(platform, client, token: str, *, in_one_statement: bool = True
               ) -> service.Verification:
    """The fast path's answer after checking it equals the old path's, in the service, from
    the rows of the check's one statement (`check_trip`: what the door uses on PostgreSQL)
    and byte for byte at the door."""
    keys = platform.get(KeyStore)
    with platform.uow(read_only=True) as uow:
        old = service.verify_token(uow=uow, token=token, keys=keys)
    with platform.uow(read_only=True) as uow:
        fast = service.read_verification(uow=uow, token=token, keys=keys)
    assert fast == old
    claims = service.claims_or_verdict(token=token, keys=keys)
    if not isinstance(claims, service.Verification):
        assert from_one_statement(platform, claims) == (old if in_one_statement else None)
    answer = client.post("/api/v1/ecard/verify", json={"token": token})
    assert answer.status_code == 200
    assert answer.content == JSONResponse(verification_out(old).model_dump(mode="json")).body
    return fast


def from_one_statement(platform, claims) -> service.Verification | None:
    """`verification_of` on the rows `check_trip` fetched, with no database behind them (as
    on the event loop); None if it asked for a select the statement does not answer."""
    from yikatong.db.raw import AnsweredOnlyUnitOfWork, NotAnswered, answered

    with platform.uow(read_only=True) as uow:
        found = service.check_trip(claims).answers(uow.connection())
    try:
        with AnsweredOnlyUnitOfWork(platform.engine.dialect, platform.clock,
                                    seams=platform) as uow, answered(found):
            return service.verification_of(uow=uow, claims=claims)
    except NotAnswered:
        return None


def signed(platform, token: str, **changes) -> str:
    """A code signed with the platform's own key whose claims differ from `token`'s."""
    keys = platform.get(KeyStore)
    claims = read_genuine(token, service.verifiers(keys))
    key = keys.get(service.KEY_PURPOSE)
    return issue_token(Sm2Signer(key.key), TokenClaims(**{**vars(claims), **changes}))


def test_fast_check_answers_as_the_orm_path_in_every_state(platform, client, holder, applied,
                                                           clock):
    person = holder(consent=("official_app", "bank_icbc"))
    token = person.qr()
    assert both_paths(platform, client, token).reason == "ok"
    assert both_paths(platform, client, "YKT1.NOTACODE").reason == "malformed"
    assert both_paths(platform, client, "hello").reason == "malformed"
    forged = issue_token(Sm2Signer(generate_keypair()[0]), read_genuine(
        token, service.verifiers(platform.get(KeyStore))))
    assert both_paths(platform, client, forged).reason == "forged"
    assert both_paths(platform, client, signed(platform, token, ecard_no=10**15 + 7)).reason \
        == "unknown"
    assert both_paths(platform, client, signed(platform, token, status_index=999_999)).reason \
        == "unknown"
    future = signed(platform, token, issued_at=clock.now().replace(microsecond=0)
                    + timedelta(minutes=5))
    assert both_paths(platform, client, future).reason == "not_yet_valid"
    aged = signed(platform, token, age=67)
    assert both_paths(platform, client, aged).valid

    redeem(platform, token)
    assert both_paths(platform, client, token).reason == "replayed"
    shown = person.qr()
    clock.advance(seconds=61)
    assert both_paths(platform, client, shown).reason == "expired"

    shown = person.qr()
    clock.advance(seconds=5)
    person.card_op(cards.report_loss, kind="temporary_loss")
    assert both_paths(platform, client, shown).reason == "suspended"  # lost, not re-authorised
    clock.advance(minutes=1)
    person.reauthorise("official_app")
    assert both_paths(platform, client, person.qr()).valid  # restricted, re-authorised
    clock.advance(minutes=1)
    person.card_op(cards.unblock)
    shown = person.qr()
    assert both_paths(platform, client, shown).valid

    person.card_op(cards.freeze, actor=ADMIN, reason_code="fraud_check")
    assert both_paths(platform, client, shown).reason == "suspended"
    person.card_op(cards.unfreeze, actor=ADMIN)
    shown = person.qr()
    person.withdraw("official_app")
    person.withdraw("bank_icbc")
    assert both_paths(platform, client, shown).reason == "no_consent"
    person.grant("official_app")
    shown = person.qr()
    person.card_op(cards.retire_deceased, actor=ADMIN, note="户籍注销")
    assert both_paths(platform, client, shown).reason == "revoked"


def test_fast_check_of_a_holder_without_a_card_yet(platform, client, applied):
    person = applied()  # 同步申领: the e-card is usable while the application is open
    person.grant("official_app")
    with platform.uow() as uow:
        token = service.issue_qr(uow=uow, actor=ADMIN, channel="official_app",
                                 keys=platform.get(KeyStore), person_id=person.person_id).token
    # No card yet: the open application is read by a select the one statement does not make.
    verdict = both_paths(platform, client, token, in_one_statement=False)
    assert verdict.valid and verdict.card_status is not None


def test_fast_check_picks_the_card_the_orm_path_picks_after_a_replacement(platform, client,
                                                                           holder, clock):
    person = holder()
    shown = person.qr()
    clock.advance(seconds=1)
    person.card_op(cards.report_loss, kind="formal_loss")
    assert both_paths(platform, client, shown).reason == "suspended"
    old_card = person.card_no
    person.card_no = new_card_by_application(person, pickup(kind="replacement"))
    assert person.card_no != old_card
    verdict = both_paths(platform, client, person.qr())  # two cards: the new one in use
    assert verdict.valid and verdict.card_status == "normal"


def test_a_redeem_records_the_use_and_one_audit_record_and_answers_as_the_check(platform,
                                                                                client, holder):
    """The redeem door's plain statements: the code's use (every column), one audit record
    chained to the e-card's last, and the check's answer marked used."""

    from yikatong.audit import service as audit

    person = holder()
    token = person.qr()
    keys = platform.get(KeyStore)
    with platform.uow(read_only=True) as uow:
        checked = service.verify_token(uow=uow, token=token, keys=keys)
    redeemed = redeem(platform, token, business=" hospital_registration ")
    assert redeemed == service.Verification(**{**vars(checked), "used": True})
    claims = read_genuine(token, service.verifiers(keys))
    use, chain = _stored_use_and_chain(platform)
    assert (use.nonce, use.ecard_no, use.business, use.terminal_id, use.used_by) == (
        claims.nonce.hex(), f"{claims.ecard_no:016d}", "hospital_registration", "T-01",
        "counter-1")
    assert use.token_expires_at == claims.expires_at
    last, before = chain[-1], chain[-2]
    assert [record.action for record in chain].count("ecard.qr_redeemed") == 1
    assert (last.action, last.seq, last.prev_hash, last.after) == (
        "ecard.qr_redeemed", before.seq + 1, before.hash,
        {"business": "hospital_registration", "terminal_id": "T-01"})
    with platform.uow(read_only=True) as uow:
        assert audit.verify_trail(uow=uow, keys=keys).ok


def _stored_use_and_chain(platform):
    """The one stored use of an e-card code and its e-card's audit chain, oldest first."""
    from sqlalchemy import select

    from yikatong.audit.models import AuditRecord
    from yikatong.ecard.models import EcardTokenUse

    with platform.uow(read_only=True) as uow:
        use = uow.session.execute(select(EcardTokenUse)).scalar_one()
        chain = uow.session.execute(select(AuditRecord).where(
            AuditRecord.entity_type == "ecard", AuditRecord.entity_id == use.ecard_no)
            .order_by(AuditRecord.seq)).scalars().all()
    return use, chain


def test_on_postgresql_the_doors_check_on_the_event_loop(platform, client, holder, login):
    """On PostgreSQL a terminal's check (the throttle's credential lookup and hit, the check's
    one statement) sends nothing through the engine's pool: all of it runs on the event
    loop's own connections. A redeem too: its checks and the chain's head in one statement,
    its use, audit record and key in another (service.redeem_write), stored as the thread's
    transaction stores them. The answers stay the thread's (compared above)."""
    from sqlalchemy import event, select

    from yikatong.audit.models import AuditRecord

    if platform.engine.dialect.name != "postgresql":
        pytest.skip("the event loop's connections are PostgreSQL's")
    from yikatong.core.actor import Role

    terminal = login(Role.TRANSIT_OPERATOR, branch_code="BUS-01")
    counter = login(Role.SS_OUTLET, branch_code="SS-TN-01")
    person = holder()
    shown = person.qr()
    assert client.post("/api/v1/ecard/verify", json={"token": shown}).json()["valid"]
    seen: list[str] = []

    def statement(_conn, _cursor, sql, *_rest):
        seen.append(" ".join(sql.split()[:3]))

    event.listen(platform.engine, "before_cursor_execute", statement)
    try:
        answer = client.post("/api/v1/ecard/verify", headers=terminal, json={"token": shown})
        assert answer.status_code == 200 and answer.json()["valid"]
        assert seen == []
        keys = platform.get(KeyStore)
        with platform.uow(read_only=True) as uow:
            checked = service.verify_token(uow=uow, token=shown, keys=keys)
        seen.clear()
        answer = client.post("/api/v1/ecard/redeem", headers=counter, json={
            "token": shown, "business": " hospital_registration ", "terminal_id": "T-01"})
        assert answer.status_code == 200 and answer.json()["used"], answer.text
        assert seen == []
    finally:
        event.remove(platform.engine, "before_cursor_execute", statement)
    assert answer.content == JSONResponse(verification_out(service.Verification(
        **{**vars(checked), "used": True})).model_dump(mode="json")).body
    use = _assert_redeem_stored(platform, keys, shown)
    with platform.uow(read_only=True) as uow:
        username = uow.session.execute(select(AuditRecord.actor_id).where(
            AuditRecord.action == "ecard.qr_redeemed")).scalar_one()
    assert use.used_by == username
    again = client.post("/api/v1/ecard/redeem", headers=counter, json={
        "token": shown, "business": "hospital_registration", "terminal_id": "T-02"})
    assert again.status_code != 200 and "replayed" in again.text, again.text


def test_on_a_sqlite_file_a_terminals_check_takes_no_thread(platform, client, holder, login):
    """On a SQLite file a terminal's check runs on the event loop too: the credential's
    select and the check's one statement on the loop's own connection (Platform.
    sqlite_loop_reads), the throttle's hit written there (Platform.sqlite_loop_writes):
    nothing goes through the engine's pool, no thread-pool hop is taken, the hit is counted
    under the terminal's credential and the answer is the thread's (compared above)."""
    from unittest import mock

    from sqlalchemy import event
    from starlette import concurrency

    from yikatong.auth.throttle import Throttle
    from yikatong.core.actor import Role

    if platform.sqlite_loop_writes() is None:
        pytest.skip("the event loop's own SQLite connections are a SQLite file's")
    terminal = login(Role.TRANSIT_OPERATOR, branch_code="BUS-01")
    shown = holder().qr()
    throttle = platform.get(Throttle)
    secret = "credential:" + terminal["Authorization"].split(" ", 1)[1]
    first = client.post("/api/v1/ecard/verify", headers=terminal, json={"token": shown})
    assert first.status_code == 200 and first.json()["valid"]
    left = throttle.remaining("ecard_terminal", secret)
    seen: list[str] = []

    def statement(_conn, _cursor, sql, *_rest):
        seen.append(" ".join(sql.split()[:3]))

    def no_thread(*_args, **_kwargs):
        raise AssertionError("a thread-pool hop")

    event.listen(platform.engine, "before_cursor_execute", statement)
    try:
        with mock.patch.object(concurrency.anyio.to_thread, "run_sync", no_thread):
            answer = client.post("/api/v1/ecard/verify", headers=terminal, json={"token": shown})
    finally:
        event.remove(platform.engine, "before_cursor_execute", statement)
    assert answer.status_code == 200 and answer.content == first.content
    assert seen == []
    assert throttle.remaining("ecard_terminal", secret) == left - 1


def test_on_a_sqlite_file_a_redeem_checks_on_the_event_loop_and_writes_in_one_hop(
        platform, client, holder, login):
    """On a SQLite file a redeem's checks run on the event loop, on the rows of the check's
    one statement on the loop's own connection (no select through the engine's pool); the
    use, its audit record and the commit take one thread-pool hop (the commit waits for the
    disk), the record chained to the head read in that transaction. The answer is the
    check's marked used, the use and the record are stored as the thread's transaction
    stores them, and the code used again is refused as replayed."""
    import asyncio
    from unittest import mock

    from sqlalchemy import event
    from starlette import concurrency

    from yikatong.core.actor import Role

    if platform.sqlite_loop_writes() is None:
        pytest.skip("the event loop's own SQLite connections are a SQLite file's")
    counter = login(Role.SS_OUTLET, branch_code="SS-TN-01")
    shown = holder().qr()
    keys = platform.get(KeyStore)
    with platform.uow(read_only=True) as uow:
        checked = service.verify_token(uow=uow, token=shown, keys=keys)
    on_loop: dict[str, bool] = {}

    def noting(name, function):
        def noted(**kwargs):
            on_loop[name] = asyncio._get_running_loop() is not None
            return function(**kwargs)
        return noted

    hops: list = []
    run_sync = concurrency.anyio.to_thread.run_sync

    async def counted_hop(*args, **kwargs):
        hops.append(args[0])
        return await run_sync(*args, **kwargs)

    seen: list[str] = []

    def statement(_conn, _cursor, sql, *_rest):
        seen.append(" ".join(sql.split()[:2]))

    event.listen(platform.engine, "before_cursor_execute", statement)
    try:
        with mock.patch.object(service, "check_redeemable",
                               noting("check", service.check_redeemable)), \
                mock.patch.object(service, "record_redeem", noting("record", service.record_redeem)), \
                mock.patch.object(concurrency.anyio.to_thread, "run_sync", counted_hop):
            answer = client.post("/api/v1/ecard/redeem", headers=counter, json={
                "token": shown, "business": " hospital_registration ", "terminal_id": "T-01"})
    finally:
        event.remove(platform.engine, "before_cursor_execute", statement)
    assert answer.status_code == 200, answer.text
    assert on_loop == {"check": True, "record": False}
    assert len(hops) == 1
    assert seen == ["BEGIN IMMEDIATE"]  # the rest on the connection's own cursor (db.statement)
    assert answer.content == JSONResponse(verification_out(service.Verification(
        **{**vars(checked), "used": True})).model_dump(mode="json")).body
    _assert_redeem_stored(platform, keys, shown)
    again = client.post("/api/v1/ecard/redeem", headers=counter, json={
        "token": shown, "business": "hospital_registration", "terminal_id": "T-02"})
    assert again.status_code == 422 and "replayed" in again.text, again.text
    assert [record.action for record in _stored_use_and_chain(platform)[1]].count(
        "ecard.qr_redeemed") == 1


def _assert_redeem_stored(platform, keys, shown: str):
    """The use of `shown` redeemed at terminal T-01 for hospital registration, its audit
    record last on the e-card's chain (one after the one before, at the use's time) and the
    trail intact; the stored use."""
    from yikatong.audit import service as audit

    claims = read_genuine(shown, service.verifiers(keys))
    use, chain = _stored_use_and_chain(platform)
    assert (use.nonce, use.ecard_no, use.business, use.terminal_id, use.token_expires_at) == (
        claims.nonce.hex(), f"{claims.ecard_no:016d}", "hospital_registration", "T-01",
        claims.expires_at)
    assert use.used_at == chain[-1].at
    last, before = chain[-1], chain[-2]
    assert (last.action, last.seq, last.prev_hash, last.after, last.role) == (
        "ecard.qr_redeemed", before.seq + 1, before.hash,
        {"business": "hospital_registration", "terminal_id": "T-01"}, "ss_outlet_operator")
    with platform.uow(read_only=True) as uow:
        assert audit.verify_trail(uow=uow, keys=keys).ok
    return use


def test_a_redeem_written_on_a_moved_chain_or_a_spent_nonce_writes_nothing(platform, holder):
    """The redeem's one write (service.redeem_write, on the rows of its one read): a chain
    that moved since its head was read collides on the chain's key (ConcurrentChange, as
    two writers of one chain in a transaction), a nonce used meanwhile on the unique nonce
    (the replay refusal, before the audit record is tried); either way nothing is written."""
    from sqlalchemy import func, select
    from sqlalchemy.exc import IntegrityError

    from yikatong.core.actor import Actor, Channel, Role
    from yikatong.core.errors import ConcurrentChange
    from yikatong.db.raw import AnsweredOnlyUnitOfWork, answered
    from yikatong.ecard.models import EcardTokenUse
    from yikatong.ecard.tokens import TokenRejected

    if platform.engine.dialect.name != "postgresql":
        pytest.skip("the redeem's one write is PostgreSQL's (the event loop's connections)")
    counter = Actor(user_id="counter-1", role=Role.SS_OUTLET, channel=Channel.OUTLET,
                    branch_code="SS-TN-01")
    person = holder()
    keys = platform.get(KeyStore)

    def prepared(token):
        claims = read_genuine(token, service.verifiers(keys))
        with platform.uow(read_only=True) as uow:
            trip = service.redeem_trip(claims).answers(uow.connection())
        with AnsweredOnlyUnitOfWork(platform.engine.dialect, platform.clock,
                                    seams=platform) as uow, answered(trip.found):
            redeemable = service.check_redeemable(uow=uow, claims=claims)
        return service.redeem_write(actor=counter, redeemable=redeemable, business="x",
                                    terminal_id=None, head=trip.head, now=platform.clock.now())

    def refusal(statement, params):
        with platform.engine.connect() as connection, pytest.raises(IntegrityError) as raised:
            statement.rows(connection, params)
        return service.redeem_refusal(raised.value)

    def uses():
        with platform.uow(read_only=True) as uow:
            return uow.session.execute(select(func.count()).select_from(EcardTokenUse)).scalar()

    token = person.qr()
    statement, params = prepared(token)
    person.qr()  # another code issued: the e-card's audit chain moves on
    assert isinstance(refusal(statement, params), ConcurrentChange)
    assert uses() == 0
    statement, params = prepared(token)
    redeem(platform, token)  # another counter redeems the code first
    assert isinstance(refusal(statement, params), TokenRejected)
    assert uses() == 1


def test_on_postgresql_the_long_check_and_redeem_statements_are_converted_once(
        platform, client, holder, login):
    """psycopg keeps a query's conversion (placeholders to $n) only up to 4,096 bytes; the
    loop's connections keep the longer ones too (db.loop_connection.KeptQuery): the
    check's statement (13 KB) and the redeem's (19 KB) are converted at their first call."""
    from yikatong.db.loop_connection import KeptQuery

    if platform.engine.dialect.name != "postgresql":
        pytest.skip("psycopg's conversion: PostgreSQL's loop connections")
    kept = KeptQuery.kept
    person = holder()
    token = person.qr()
    kept.cache_clear()
    for _ in range(3):
        assert client.post("/api/v1/ecard/verify", json={"token": token}).status_code == 200
    assert (kept.cache_info().misses, kept.cache_info().hits) == (1, 2)  # the check's
    counter = login(Role.SS_OUTLET, username="ss-kept", branch_code="SS-TN-01")
    for _ in range(3):
        redeemed = client.post("/api/v1/ecard/redeem", headers=counter, json={
            "token": person.qr(), "business": "hospital_registration"})
        assert redeemed.status_code == 200, redeemed.text
    info = kept.cache_info()
    assert info.misses >= 2 and info.hits >= 2 + 2 * (info.misses - 1)  # each once
