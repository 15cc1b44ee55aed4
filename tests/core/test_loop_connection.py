"""The event loop's PostgreSQL connection (db.loop_connection.LoopConnection): its socket is
registered with the loop once for all its statements, the answers are psycopg's, and a
connection the server ends while idle is no longer watched (no busy loop), then fails its
next statement as psycopg's own connection does."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

pytestmark = pytest.mark.db


def _connect_args(platform):
    if platform.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only (the loop's connections are psycopg's)")
    with platform.engine.connect():  # the test's database, as the platform reaches it
        pass
    return platform.engine.dialect.create_connect_args(platform.engine.url)


def test_statements_answer_as_psycopg_with_the_socket_registered_once(platform, monkeypatch):
    from yikatong.db.loop_connection import LoopConnection

    args, params = _connect_args(platform)

    async def statements():
        ours = await LoopConnection.connect(*args, **params, autocommit=True)
        theirs = await psycopg.AsyncConnection.connect(*args, **params, autocommit=True)
        loop = asyncio.get_running_loop()
        registered: list[int] = []  # from here on: the statements' waits
        add_reader = loop.add_reader
        monkeypatch.setattr(loop, "add_reader",
                            lambda fd, *rest: registered.append(fd) or add_reader(fd, *rest))
        answers = {}
        for name, connection in (("ours", ours), ("theirs", theirs)):
            cursor = connection.cursor()
            answers[name] = []
            for n in range(7):  # past psycopg's prepare threshold (5)
                await cursor.execute("select %s::int, now(), repeat('x', %s)", [n, n * 2000])
                answers[name].append(await cursor.fetchall())
        socket = ours.pgconn.socket
        await ours.close()
        await theirs.close()
        return registered, socket, answers

    registered, socket, answers = asyncio.run(statements())
    assert registered.count(socket) == 1
    assert len(registered) > 7  # psycopg's own: one a wait
    assert [[(n, x) for n, _, x in rows] for rows in answers["ours"]] == \
        [[(n, x) for n, _, x in rows] for rows in answers["theirs"]]


def test_a_connection_the_server_ends_is_no_longer_watched_and_fails_its_next_statement(platform):
    from yikatong.db.loop_connection import LoopConnection

    args, params = _connect_args(platform)

    async def ended():
        loop = asyncio.get_running_loop()
        connection = await LoopConnection.connect(*args, **params, autocommit=True)
        await connection.execute("select 1")
        socket = connection._watched
        assert socket == connection.pgconn.socket
        async with await psycopg.AsyncConnection.connect(*args, **params, autocommit=True) as other:
            await other.execute("select pg_terminate_backend(%s)", [connection.info.backend_pid])
        for _ in range(200):  # the loop sees the socket readable (closed) and stops watching
            if connection._watched is None:
                break
            await asyncio.sleep(0.01)
        watched = connection._watched
        registered = socket in loop._selector.get_map()
        with pytest.raises(psycopg.OperationalError):
            await connection.execute("select 1")
        await connection.close()
        return watched, registered

    assert asyncio.run(ended()) == (None, False)


def test_a_statement_larger_than_the_socket_takes_waits_for_it_to_drain(platform, monkeypatch):
    """A statement psycopg cannot hand to the socket at once (here 24 MB of parameter) waits
    for the socket to take the rest, then for the answer, as psycopg's own wait does."""
    from yikatong.db.loop_connection import LoopConnection

    args, params = _connect_args(platform)
    large = "x" * 24_000_000
    write_waits = []
    ready_to_write = LoopConnection._ready_to_write

    async def counted(self, state):
        write_waits.append(state)
        return await ready_to_write(self, state)

    monkeypatch.setattr(LoopConnection, "_ready_to_write", counted)

    async def large_statement():
        connection = await LoopConnection.connect(*args, **params, autocommit=True)
        try:
            cursor = await connection.execute("select length(%s), 1", [large])
            first = await cursor.fetchone()
            cursor = await connection.execute("select 2")  # and the next one as ever
            return first, await cursor.fetchone()
        finally:
            await connection.close()

    assert asyncio.run(large_statement()) == ((24_000_000, 1), (2,))
    assert write_waits  # the socket did not take it at once


def test_overlapping_reads_each_have_a_statement_out_up_to_the_loop_s_connections(platform):
    """Under load the loop must take several answers in one turn (db.loop_reads.LOOP_CONNECTIONS:
    with 4 a worker's loop woke once a read): that many reads' statements are out at once,
    on as many backends, and a read beyond them waits for one of those connections."""
    from sqlalchemy import func, literal_column, select

    from yikatong.db.loop_reads import LOOP_CONNECTIONS, LoopReads
    from yikatong.db.raw import RawSelect

    _connect_args(platform)
    sleeping = RawSelect(select(func.pg_backend_pid().label("pid"),
                                func.pg_sleep(literal_column("0.3")).label("slept")),
                         "Sleeping")
    reads = LoopReads(platform.engine)

    async def overlapping():  # (a connection is made only when every one made is busy)
        return await asyncio.gather(*(reads.rows(sleeping, {})
                                      for _ in range(LOOP_CONNECTIONS + 1)))

    try:
        answers = asyncio.run(overlapping())
    finally:
        reads.close()
    backends = {rows[0].pid for rows in answers}
    assert LOOP_CONNECTIONS >= 16
    assert len(backends) == LOOP_CONNECTIONS  # the one beyond them reused one
