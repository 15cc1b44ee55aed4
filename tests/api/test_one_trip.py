"""The hot reads' one statement (db.raw.OneTrip: the credential lookup and the read's plain
selects fetched together, api.deps.ReadAccess.answer) answers what the selects one by one
answer: the same view, the same refusal in the same order, whoever asks and whatever the
card's blocks; on a thread and, on PostgreSQL, on the event loop's own connection
(Platform.loop_reads); and a revoked credential or a changed card is seen by the next read."""

from __future__ import annotations

import asyncio
import re
from functools import partial

import pytest

from tests.cards.conftest import ADMIN, PHONE, act, card_in_use
from yikatong.api.deps import ReadAccess
from yikatong.auth.access import allowed_roles
from yikatong.cards import api as cards_api
from yikatong.cards import service as cards
from yikatong.core.actor import Role
from yikatong.db.raw import AnsweredOnlyUnitOfWork
from yikatong.transit import api as transit_api
from yikatong.transit import contact

pytestmark = pytest.mark.db

CARD = "/api/v1/cards/{card_no}"
CONTACT = "/api/v1/transit/contacts/{contact_id}"


def outcome(call):
    """The answer, or the refusal as (its type, its code)."""
    try:
        return call()
    except Exception as error:
        return type(error).__name__, getattr(error, "code", None)


def every_way(platform, headers: dict, route: str, use_case, one_trip) -> list:
    """The read one select at a time, its one statement on a thread, and `answer` (on
    PostgreSQL: the statement on the event loop; on SQLite: the loop's own read)."""
    secret = headers.get("Authorization", "Bearer ").split(" ", 1)[1]
    access = ReadAccess(platform, allowed_roles("GET", route), secret, headers.get("X-Ykt-Channel"))
    trip = one_trip(secret)
    return [outcome(lambda: access.read(use_case)),
            outcome(lambda: access.read(use_case, trip)),
            outcome(lambda: asyncio.run(access.answer(use_case, one_trip)))]


def same_card_read(platform, headers: dict, card_no: str):
    answers = every_way(platform, headers, CARD, partial(cards_api._read_card, card_no),
                        partial(cards.card_read_trip, card_no))
    assert answers[1] == answers[0] and answers[2] == answers[0]
    return answers[0]


def test_the_card_read_through_a_card_life(platform, client, clock, login):
    card_no = card_in_use(platform, person_id=1101)
    admin = login(Role.ADMIN, username="admin-trip")
    assert same_card_read(platform, admin, card_no).blocks_in_force == []
    act(platform, cards.report_loss, actor=PHONE, card_no=card_no, kind="temporary")
    lost = same_card_read(platform, admin, card_no)  # the block seen by the next read
    assert len(lost.blocks_in_force) == 1 and lost.hr_status != "normal"
    act(platform, cards.freeze, actor=ADMIN, card_no=card_no, reason_code="court_order")
    assert len(same_card_read(platform, admin, card_no).blocks_in_force) == 2
    act(platform, cards.unfreeze, actor=ADMIN, card_no=card_no, note="order lifted")
    clock.advance(days=8)  # the temporary loss past its end, the freeze lifted: three blocks
    assert same_card_read(platform, admin, card_no) == ("TokenInvalid", "token_invalid")  # aged
    read = same_card_read(platform, login(Role.ADMIN, username="admin-later"), card_no)
    assert read.blocks_in_force == [] and read.hr_status == "normal"


def test_the_card_read_refuses_alike(platform, client, login):
    mine = card_in_use(platform, person_id=1102, bank_code="ICBC")
    theirs = card_in_use(platform, person_id=1103, bank_code="ICBC")
    holder = login(Role.HOLDER, username="holder-trip", person_id=1102)
    assert same_card_read(platform, holder, mine).card_no == mine
    assert same_card_read(platform, holder, theirs) == ("CardNotFound", "card_not_found")
    other_bank = login(Role.BANK, username="abc-trip", bank_code="ABC", branch_code="ABC-CZ-001",
                       channel="bank_branch")
    assert same_card_read(platform, other_bank, mine) == ("CardNotFound", "card_not_found")
    admin = login(Role.ADMIN, username="admin-refusals")
    assert same_card_read(platform, admin, "B99999999") == ("CardNotFound", "card_not_found")
    assert same_card_read(platform, admin, "bad") == ("InvalidCardNo", "invalid_card_no")
    transit = login(Role.TRANSIT_OPERATOR, username="metro-trip", branch_code="CZMETRO")
    assert same_card_read(platform, transit, mine)[0] == "RoleNotAllowed"
    agent = login(Role.PHONE_AGENT, username="agent-trip", channel="bank_branch")
    assert same_card_read(platform, agent, mine)[0] == "ChannelNotAllowed"
    assert same_card_read(platform, {"Authorization": "Bearer not-a-token"}, mine) == (
        "TokenInvalid", "token_invalid")


def test_a_revoked_token_is_refused_by_the_next_read(platform, client, login):
    card_no = card_in_use(platform, person_id=1104)
    agent = login(Role.PHONE_AGENT, username="agent-revoked")
    assert same_card_read(platform, agent, card_no).card_no == card_no
    assert client.post("/api/v1/auth/logout", headers=agent).status_code == 204
    assert same_card_read(platform, agent, card_no) == ("TokenInvalid", "token_invalid")


def test_the_contact_poll_alike(platform, client, login):
    counter = login(Role.CITIZEN_OUTLET, username="smk-trip", channel="citizen_outlet",
                    branch_code="SMK-DIRECT-01")
    started = client.post("/api/v1/transit/contacts", headers=counter, json={"purpose": "read"})
    assert started.status_code == 201, started.text
    contact_id = started.json()["contact_id"]

    def same(headers: dict, contact_id: str):
        answers = every_way(platform, headers, CONTACT,
                            partial(transit_api._read_contact, contact_id),
                            partial(contact.contact_read_trip, contact_id))
        assert answers[1] == answers[0] and answers[2] == answers[0]
        return answers[0]

    polled = same(counter, contact_id)
    assert polled.contact_id == contact_id and polled.state == "awaiting_card"
    with platform.uow(read_only=True) as uow:  # the ORM's view of the same contact
        orm = contact._step(contact._session(uow, contact_id, ADMIN))
    assert polled.model_dump() == transit_api._contact_out(orm).model_dump()
    other = login(Role.CITIZEN_OUTLET, username="smk-other", channel="citizen_outlet",
                  branch_code="SMK-DIRECT-01")
    assert same(other, contact_id) == ("ContactNotFound", "transit_contact_not_found")
    assert same(login(Role.ADMIN, username="admin-poll"), contact_id).contact_id == contact_id
    assert same(counter, "nobody") == ("ContactNotFound", "transit_contact_not_found")


def test_on_postgresql_the_card_read_runs_on_the_event_loop_and_falls_back(platform, client,
                                                                            login, monkeypatch):
    """On PostgreSQL the one statement runs on the loop's connection; if that cannot serve
    (a broken connection), the read goes the thread's way with the same answer."""
    card_no = card_in_use(platform, person_id=1105)
    admin = login(Role.ADMIN, username="admin-loop")
    reads = platform.loop_reads()  # once the engine has met the server (its isolation)
    if reads is None:
        assert platform.engine.dialect.name == "sqlite"
        return
    secret = admin["Authorization"].split(" ", 1)[1]
    access = ReadAccess(platform, allowed_roles("GET", CARD), secret, None)
    on_thread: list[int] = []
    monkeypatch.setattr(ReadAccess, "read", lambda self, *args: on_thread.append(1) or
                        ReadAccess._checked_read(self, platform.statement_read_uow(), *args)[1])
    one_trip = partial(cards.card_read_trip, card_no)
    use_case = partial(cards_api._read_card, card_no)

    async def twice_then_broken():
        first = await access.answer(use_case, one_trip)
        for connection in reads._idle:
            await connection.close()  # as a server restart would leave it
        return first, await access.answer(use_case, one_trip)

    first, after_breaking = asyncio.run(twice_then_broken())
    assert first == after_breaking and first.card_no == card_no
    assert on_thread == [1]


@pytest.mark.db_unseen  # SQLite: the loop's own connection, outside the pool
def test_on_sqlite_the_card_read_is_one_statement_on_the_loop_s_connection(platform, client,
                                                                            login, monkeypatch):
    """On a SQLite file the one statement runs on the loop's own connection outside a unit of
    work (no BEGIN, no pool checkout: Platform.sqlite_loop_reads), sees the next change at
    once, and a connection that fails sends the read to the loop's unit of work with the
    same answer (a new connection for the read after)."""
    if platform.engine.dialect.name != "sqlite":
        assert platform.sqlite_loop_reads() is None
        return
    card_no = card_in_use(platform, person_id=1106)
    admin = login(Role.ADMIN, username="admin-sqlite-loop")
    reads = platform.sqlite_loop_reads()
    secret = admin["Authorization"].split(" ", 1)[1]
    access = ReadAccess(platform, allowed_roles("GET", CARD), secret, None)
    in_unit_of_work: list[int] = []
    checked_read = ReadAccess._checked_read

    def counting(self, uow, *args, **kwargs):
        if not isinstance(uow, AnsweredOnlyUnitOfWork):
            in_unit_of_work.append(1)
        return checked_read(self, uow, *args, **kwargs)

    monkeypatch.setattr(ReadAccess, "_checked_read", counting)
    one_trip = partial(cards.card_read_trip, card_no)
    use_case = partial(cards_api._read_card, card_no)
    began: list[str] = []
    from sqlalchemy import event

    loop_engine = platform._loop_read_factory.kw["bind"]
    event.listen(loop_engine, "begin", lambda _connection: began.append("BEGIN"))

    async def reads_around_a_loss_then_broken():
        first = await access.answer(use_case, one_trip)
        act(platform, cards.report_loss, actor=PHONE, card_no=card_no, kind="temporary")
        lost = await access.answer(use_case, one_trip)
        reads._connection.dbapi_connection.close()  # as a failed connection would be left
        broken = await access.answer(use_case, one_trip)
        return first, lost, broken, await access.answer(use_case, one_trip)

    first, lost, broken, after = asyncio.run(reads_around_a_loss_then_broken())
    assert first.card_no == card_no and first.blocks_in_force == []
    assert lost.blocks_in_force != [] and lost == broken == after
    assert (in_unit_of_work, began) == ([1], ["BEGIN"])  # only the read on the failed connection
    assert lost == same_card_read(platform, admin, card_no)


@pytest.mark.no_db
@pytest.mark.parametrize("statement", [cards._CARD_READ, contact._CONTACT_READ],
                         ids=lambda statement: statement._name)
def test_the_hot_reads_statements_stay_within_psycopgs_cached_conversion(statement):
    """psycopg converts a query's placeholders once and caches it only up to
    MAX_CACHED_STATEMENT_LENGTH bytes of SQL and MAX_CACHED_STATEMENT_PARAMS parameters; past
    either, it parses the query again on every call (the medical door's first statement paid
    ~490 Python calls a visit for 400 bytes too many). The card read's was 4,014 bytes of 4,096
    on 2026-12-06: a column added to cards or card_blocks could tip it over unseen."""
    from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_PARAMS
    from sqlalchemy.dialects import postgresql

    sql = statement._compiled(postgresql.dialect())[0]
    assert len(sql.encode()) <= MAX_CACHED_STATEMENT_LENGTH
    assert len(set(re.findall(r"%\((\w+)\)s", sql))) <= MAX_CACHED_STATEMENT_PARAMS
