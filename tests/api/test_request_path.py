"""What the fast request path must keep correct (bench/request_path.py measures its speed):
credentials are checked against the database on every request, so a revocation made through
one worker process holds at once in every other; read-only units of work never write and,
on SQLite, never queue for the write lock; the e-card verifiers follow the key store."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from yikatong.api.app import create_app
from yikatong.auth.models import User
from yikatong.auth.service import create_api_key, find_user
from yikatong.core.actor import Role
from yikatong.core.settings import Settings
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.db.uow import ReadOnlyUnitOfWork
from yikatong.ecard import service as ecard
from yikatong.platform import Platform

pytestmark = pytest.mark.db
ME = "/api/v1/auth/me"


@pytest.fixture
def second_worker(database_url, clock, tmp_path):
    """Another `ykt serve` worker: its own Platform (engine, pool) and app on the same database."""
    other = Platform(Settings(database_url=database_url, key_store_path=str(tmp_path / "k2.json")),
                     clock=clock)
    with TestClient(create_app(other)) as client:
        yield client
    other.engine.dispose()


def test_a_token_revoked_through_one_worker_is_refused_by_the_next_request_to_another(
        client, second_worker, login):
    headers = login(Role.PHONE_AGENT, username="agent-lu")
    assert second_worker.get(ME, headers=headers).json()["username"] == "agent-lu"
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    refused = second_worker.get(ME, headers=headers)
    assert refused.status_code == 401 and refused.json()["code"] == "token_invalid"


def test_a_login_deactivated_through_one_worker_loses_its_api_key_in_another(
        client, second_worker, login, platform, admin_actor):
    admin = login(Role.ADMIN, username="admin-gu")
    login(Role.TRANSIT_OPERATOR, username="metro-feed", branch_code="CZMETRO")
    with platform.uow() as uow:
        key = create_api_key(uow=uow, user=find_user(uow=uow, username="metro-feed"),
                             label="gate feed", actor=admin_actor)
        uow.commit()
    assert second_worker.get(ME, headers={"X-API-Key": key}).status_code == 200
    assert client.post("/api/v1/auth/users/metro-feed/deactivate", headers=admin).status_code == 200
    assert second_worker.get(ME, headers={"X-API-Key": key}).status_code == 401


def test_the_fast_lookup_answers_the_same_actor_as_before(client, login):
    headers = login(Role.BANK, username="icbc-teller", bank_code="ICBC", branch_code="ICBC-CZ-001",
                    channel="bank_branch")
    me = client.get(ME, headers=headers).json()
    assert (me["username"], me["role"], me["channel"]) == ("icbc-teller", "bank", "bank_branch")
    refused = client.get(ME, headers={**headers, "X-Ykt-Channel": "online_portal"})
    assert refused.status_code == 403 and refused.json()["code"] == "channel_not_allowed"
    assert client.get(ME, headers={"Authorization": "Bearer not-a-token"}).status_code == 401


def test_a_read_only_unit_of_work_refuses_to_commit_and_leaves_nothing_behind(platform, login):
    login(Role.PHONE_AGENT, username="agent-xu")
    with platform.uow(read_only=True) as uow:
        user = uow.session.execute(select(User).where(User.username == "agent-xu")).scalar_one()
        user.display_name = "changed"
        with pytest.raises(ReadOnlyUnitOfWork):
            uow.commit()
    with platform.uow() as uow:
        assert find_user(uow=uow, username="agent-xu").display_name == "agent-xu"


def test_a_reader_does_not_wait_for_the_writer(platform, login, database_url):
    """A writer holds its transaction open (on SQLite: the write lock); a read-only unit of work
    and a credential check read meanwhile, and see the committed state, not the open change."""
    headers = login(Role.PHONE_AGENT, username="agent-shi")
    app = TestClient(create_app(platform))
    read: dict = {}

    def reader() -> None:
        with platform.uow(read_only=True) as uow:
            read["name"] = find_user(uow=uow, username="agent-shi").display_name
        read["me"] = app.get(ME, headers=headers).status_code

    with platform.uow() as writer:
        find_user(uow=writer, username="agent-shi").display_name = "uncommitted"
        writer.session.flush()  # the write lock is taken (SQLite: at BEGIN IMMEDIATE already)
        thread = threading.Thread(target=reader)
        thread.start()
        thread.join(timeout=20)  # busy_timeout is 30 s: a waiting reader would still be waiting
        finished = not thread.is_alive()
        writer.session.rollback()
    thread.join()
    assert finished, "the reader queued behind the writer"
    assert read == {"name": "agent-shi", "me": 200}


@pytest.mark.no_db
def test_e_card_verifiers_follow_the_key_store_at_once():
    keys = InMemoryKeyStore(seed=b"request path test")
    first = ecard.verifiers(keys)
    assert list(first) == [1]
    assert ecard.verifiers(keys)[1] is first[1]  # built once per public key
    keys.rotate("ecard_signing", "SM2")
    assert sorted(ecard.verifiers(keys)) == [1, 2]
    keys.set_status("ecard_signing", "SM2", 1, "revoked")
    assert sorted(ecard.verifiers(keys)) == [2]
    [revoked] = [k for k in keys.list() if k.purpose == "ecard_signing" and k.version == 1]
    assert str(revoked.status) == "revoked" and revoked.check_value  # a new key object, new info


# --- several worker processes (`ykt serve --workers N`) -----------------------------------------


@pytest.mark.no_db
def test_several_workers_refuse_a_chosen_clock(platform, monkeypatch):
    """Each worker process would have its own moved clock: refused before anything starts."""
    from tests.conftest import cli_on

    result = cli_on(platform, monkeypatch)("serve", "--workers", 2, "--clock", "2036-03-10T09:00")
    assert result.exit_code == 1 and "dev_clock_refused" in result.output
    assert "--workers 1" in result.output


@pytest.mark.no_db
def test_a_worker_process_builds_its_platform_from_the_environment(database_url, tmp_path,
                                                                   monkeypatch):
    import logging

    from sqlalchemy.engine import make_url

    from yikatong.api.app import worker_app
    from yikatong.api.logging import MaskIdentityNumbers
    from yikatong.db.engine import normalise_url

    monkeypatch.setenv("YKT_DATABASE_URL", database_url)
    monkeypatch.setenv("YKT_KEY_STORE", str(tmp_path / "worker-keys.json"))
    monkeypatch.setenv("YKT_CHIP_DIR", str(tmp_path / "chips"))
    app = worker_app()
    try:
        expected = make_url(normalise_url(database_url))
        assert app.state.platform.engine.url.database == expected.database
        with TestClient(app) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
        access_log = logging.getLogger("uvicorn.access")
        assert any(isinstance(f, MaskIdentityNumbers) for f in access_log.filters)
    finally:
        app.state.platform.engine.dispose()


@pytest.mark.no_db
def test_the_workers_socket_gives_every_connection_tcp_nodelay():
    """uvicorn's own bound socket leaves Nagle on for every connection of every worker (each
    keep-alive answer then waits ~40 ms for a delayed ACK); ours says TCP, so asyncio turns it
    off on each accepted connection."""
    import asyncio
    import socket

    from yikatong.api.serving import TcpConfig

    listener = TcpConfig("yikatong.api.app:worker_app", host="127.0.0.1", port=0).bind_socket()
    nodelay: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport) -> None:
            accepted = transport.get_extra_info("socket")
            nodelay.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def connect_once() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        _reader, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        for _ in range(100):
            if nodelay:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()

    try:
        assert listener.proto == socket.IPPROTO_TCP
        asyncio.run(connect_once())
    finally:
        listener.close()
    assert nodelay and nodelay[0] != 0


# --- a read route checks access in its own read (api.deps.ReadAccess) -------------------------


def card_route(card_no: str) -> str:
    return f"/api/v1/cards/{card_no}"


@pytest.mark.parametrize("door", ["", "/blocks"], ids=["card", "blocks"])
def test_a_card_read_checks_the_credential_and_reads_on_one_pool_checkout(platform, client,
                                                                          login, door):
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    from tests.cards.conftest import card_in_use

    card_no = card_in_use(platform, person_id=1001)
    admin = login(Role.ADMIN, username="admin-hua")
    checkouts: list[int] = []

    def count(*_args) -> None:
        checkouts.append(1)

    # Every pool's checkouts: on SQLite the read runs on the event loop's own engine
    # (Platform.loop_read_uow), elsewhere on the platform's; on PostgreSQL the card read's
    # one statement runs on the event loop's own connection (Platform.loop_reads): none.
    event.listen(Pool, "checkout", count)
    try:
        answer = client.get(card_route(card_no) + door, headers=admin)
    finally:
        event.remove(Pool, "checkout", count)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["card_no"] == card_no) if not door else isinstance(answer.json(), list)
    assert len(checkouts) == (0 if not door and platform.loop_reads() is not None else 1)


def test_the_card_read_refuses_as_every_route_does(client, platform, login):
    from tests.cards.conftest import card_in_use

    card_no = card_in_use(platform, person_id=1002)
    assert client.get(card_route(card_no)).json()["code"] == "unauthenticated"
    bad = client.get(card_route(card_no), headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and bad.json()["code"] == "token_invalid"
    transit = login(Role.TRANSIT_OPERATOR, username="metro-qin", branch_code="CZMETRO")
    closed = client.get(card_route(card_no), headers=transit)
    assert closed.status_code == 403 and closed.json()["code"] == "forbidden"
    agent = login(Role.PHONE_AGENT, username="agent-fan")
    wrong_channel = client.get(card_route(card_no),
                               headers={**agent, "X-Ykt-Channel": "bank_branch"})
    assert wrong_channel.status_code == 403
    assert wrong_channel.json()["code"] == "channel_not_allowed"


def test_a_token_revoked_through_one_worker_is_refused_by_the_next_card_read_in_another(
        client, second_worker, login, platform):
    from tests.cards.conftest import card_in_use

    card_no = card_in_use(platform, person_id=1003)
    headers = login(Role.PHONE_AGENT, username="agent-tao")
    assert second_worker.get(card_route(card_no), headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    refused = second_worker.get(card_route(card_no), headers=headers)
    assert refused.status_code == 401 and refused.json()["code"] == "token_invalid"


def test_a_holders_card_reads_count_against_the_quota_refused_or_not(platform, client, login):
    from tests.cards.conftest import card_in_use
    from tests.core.test_throttle import assert_refused, limit

    mine = card_in_use(platform, person_id=1004)
    theirs = card_in_use(platform, person_id=1005)
    limit(platform, holder_calls="3 per minute")
    holder = login(Role.HOLDER, username="holder-ji", person_id=1004)
    assert client.get(card_route(mine), headers=holder).status_code == 200
    assert client.get(card_route(theirs), headers=holder).status_code == 404  # counted too
    assert client.get(card_route(mine), headers=holder).status_code == 200
    assert_refused(client.get(card_route(mine), headers=holder), "too_many_requests")
    assert_refused(client.get(card_route(theirs), headers=holder), "too_many_requests")


def test_a_card_read_leaves_the_event_loop_only_for_what_it_cannot_do_there(
        platform, client, login, monkeypatch):
    """The read itself never goes to the thread pool: on SQLite Platform.loop_read_uow, on
    PostgreSQL its one statement on the loop's connection (Platform.loop_reads). A holder's
    call is counted there (it writes)."""
    from starlette.concurrency import run_in_threadpool

    from tests.cards.conftest import card_in_use
    from yikatong.api import deps

    hops: list[str] = []

    async def counted(function, *args, **kwargs):
        hops.append(getattr(function, "__name__", repr(function)))
        return await run_in_threadpool(function, *args, **kwargs)

    monkeypatch.setattr(deps, "run_in_threadpool", counted)
    card_no = card_in_use(platform, person_id=1006)
    admin = login(Role.ADMIN, username="admin-yan")
    holder = login(Role.HOLDER, username="holder-yan", person_id=1006)
    assert client.get(card_route(card_no), headers=admin).status_code == 200
    assert hops == []
    hops.clear()
    assert client.get(card_route(card_no), headers=holder).status_code == 200
    assert hops == ["_after_read"]


def test_a_statement_read_sends_no_begin_on_postgresql_at_read_committed(platform, monkeypatch):
    """Platform.statement_read_uow: on PostgreSQL at READ COMMITTED each statement on its own
    (no BEGIN, no ROLLBACK: it sees what a transaction's statement would); at a stricter
    default isolation, or on SQLite, a transaction as uow(read_only=True) makes."""
    from sqlalchemy import text

    def autocommitting() -> bool:
        with platform.statement_read_uow() as uow:
            connection = uow.connection()
            connection.execute(text("select 1"))
            return bool(getattr(connection.connection.dbapi_connection, "autocommit", False))

    if platform.engine.dialect.name != "postgresql":
        assert not autocommitting()  # SQLite: its transaction is the read's one snapshot
        return
    with platform.engine.connect():  # the dialect learns the server's default on first connect
        assert platform.engine.dialect.default_isolation_level == "READ COMMITTED"
    assert autocommitting()
    monkeypatch.setattr(platform.engine.dialect, "default_isolation_level", "REPEATABLE READ")
    assert not autocommitting()


def test_a_pooled_postgresql_connection_that_died_idle_is_replaced_unseen(platform, monkeypatch):
    """No ping on every checkout (db.engine): a connection idle past the window is pinged,
    and one the server dropped meanwhile is replaced before the request sees it."""
    import time

    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from yikatong.db import engine as engines

    if platform.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL pool only")
    with platform.engine.connect() as connection:
        dead = connection.execute(text("select pg_backend_pid()")).scalar()
    killer = create_engine(platform.engine.url, poolclass=NullPool)
    with killer.connect() as connection:
        assert connection.execute(text("select pg_terminate_backend(:pid)"), {"pid": dead}).scalar()
    killer.dispose()
    time.sleep(0.2)  # the backend is gone once its socket is closed
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 0.0)
    with platform.engine.connect() as connection:
        assert connection.execute(text("select pg_backend_pid()")).scalar() != dead
