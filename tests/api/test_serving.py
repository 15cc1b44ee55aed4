"""`ykt serve`'s HTTP protocol (api.serving.HeadWithBodyProtocol) writes the same bytes as
uvicorn's httptools protocol, in the same order, with an answer's head and body in one write:
each exchange runs through both protocols on a recording transport, side by side."""

from __future__ import annotations

import asyncio

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from yikatong.api.serving import HeadWithBodyProtocol

pytestmark = pytest.mark.no_db
GET = b"GET /card HTTP/1.1\r\nHost: t\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    """What the protocol writes, one item a write, and whether it closed the connection."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data) -> None:
        assert not self.closed, "written after close"
        if data:  # asyncio's transports drop an empty write
            self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _exchange(protocol_class, app, *requests: bytes) -> RecordingTransport:
    config = Config(app=app, http=protocol_class, lifespan="off", log_config=None)
    config.load()
    state = ServerState()
    state.default_headers = [(b"date", b"Sat, 05 Dec 2026 23:00:00 GMT"), (b"server", b"uvicorn")]
    protocol = protocol_class(config=config, server_state=state, app_state={},
                              _loop=asyncio.get_running_loop())
    transport = RecordingTransport()
    protocol.connection_made(transport)
    for request in requests:
        protocol.data_received(request)
        for _ in range(5):  # a few turns of the loop: the application answers what it can
            await asyncio.sleep(0)
    while state.tasks:
        await asyncio.wait(set(state.tasks), timeout=5)
        await asyncio.sleep(0)  # one more turn: a head held to its end is written by then
    if protocol.timeout_keep_alive_task is not None:
        protocol.timeout_keep_alive_task.cancel()
    return transport


def both(app, *requests: bytes) -> tuple[RecordingTransport, RecordingTransport]:
    """(uvicorn's transport, ours) after the same exchange; the bytes on the wire the same."""
    stock = asyncio.run(_exchange(HttpToolsProtocol, app, *requests))
    ours = asyncio.run(_exchange(HeadWithBodyProtocol, app, *requests))
    assert b"".join(ours.writes) == b"".join(stock.writes)
    assert ours.closed == stock.closed
    return stock, ours


def answering(body: bytes = b'{"card_no":"C00000001"}', status: int = 200):
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(body)).encode()),
                                (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return app


def test_a_small_answer_leaves_in_one_write_where_it_left_in_two():
    stock, ours = both(answering(), GET)
    assert len(stock.writes) == 2 and stock.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert ours.writes == [stock.writes[0] + stock.writes[1]]


def test_keep_alive_answers_one_after_another_and_pipelined_each_in_one_write():
    stock, ours = both(answering(), GET, GET, GET + GET)
    assert len(stock.writes) == 8 and len(ours.writes) == 4


def test_a_head_whose_body_comes_later_is_written_at_the_end_of_the_turn():
    seen_before_body: list[int] = []

    async def slow_stream(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})  # chunked
        await asyncio.sleep(0.01)
        seen_before_body.append(len(transport_of[0].writes))
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b"second", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    transport_of: list[RecordingTransport] = []
    original = RecordingTransport.__init__

    def remember(self):
        original(self)
        transport_of[:] = [self]

    RecordingTransport.__init__ = remember
    try:
        stock, ours = both(slow_stream, GET)
    finally:
        RecordingTransport.__init__ = original
    assert seen_before_body == [1, 1]  # the head was on the wire before the body came
    assert ours.writes == stock.writes and b"transfer-encoding: chunked" in ours.writes[0]


def test_a_stream_sent_at_once_is_written_with_its_head():
    async def stream(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"a" * 100_000, "more_body": True})
        await send({"type": "http.response.body", "body": b"b"})

    stock, ours = both(stream, GET)
    assert len(ours.writes) == len(stock.writes) - 1


def test_head_no_content_and_not_modified_answers_keep_their_head():
    head = b"HEAD /card HTTP/1.1\r\nHost: t\r\n\r\n"
    stock, ours = both(answering(), head)
    assert ours.writes == stock.writes and len(ours.writes) == 1
    for status in (204, 304):
        stock, ours = both(answering(b"", status=status), GET)
        assert len(ours.writes) == 1


def test_closing_answers_and_failures_write_the_same_bytes():
    close = b"GET /card HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    stock, ours = both(answering(), close)
    assert ours.closed and len(ours.writes) == 1

    async def fails_after_start(scope, receive, send):
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"10")]})
        raise RuntimeError("the application broke mid-answer")

    stock, ours = both(fails_after_start, GET)
    assert ours.closed and ours.writes == stock.writes and ours.writes[0].startswith(b"HTTP/1.1 200")

    async def fails_at_once(scope, receive, send):
        raise RuntimeError("the application broke")

    stock, ours = both(fails_at_once, GET)
    assert b"500 Internal Server Error" in ours.writes[0] and len(ours.writes) == 1


def test_a_body_sent_with_expect_100_continue_gets_its_interim_answer_first():
    async def echo(scope, receive, send):
        message = await receive()
        await answering(message["body"])(scope, receive, send)

    request = (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
               b"Expect: 100-continue\r\n\r\n")
    stock, ours = both(echo, request, b"hello")
    assert stock.writes[0] == ours.writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert len(stock.writes) == 3 and len(ours.writes) == 2 and ours.writes[1].endswith(b"hello")


def test_ykt_serve_hands_it_to_uvicorn_on_one_worker_and_on_several(platform, monkeypatch):
    from types import SimpleNamespace

    import uvicorn

    from tests.conftest import cli_on
    from yikatong import platform_setup
    from yikatong.api import serving

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    # the test's database is made by its fixtures (no migrations), with no demo logins
    monkeypatch.setattr(platform_setup, "prepare",
                        lambda _platform: SimpleNamespace(credentials={}, created=[]))
    result = cli_on(platform, monkeypatch)("serve", "--no-worker")
    assert result.exit_code == 0, result.output
    assert seen["http"] is HeadWithBodyProtocol

    class NotRun:
        def __init__(self, config, sockets) -> None:
            seen["config"] = config

        def run(self) -> None:
            pass

    monkeypatch.setattr(serving, "Multiprocess", NotRun)
    monkeypatch.setattr(serving.TcpConfig, "bind_socket", lambda self: None)
    serving.serve_workers(host="127.0.0.1", port=0, workers=2)
    assert seen["config"].http is HeadWithBodyProtocol
