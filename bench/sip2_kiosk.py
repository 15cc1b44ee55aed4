"""The SIP2 server's own cost per message, over loopback TCP.

    PYTHONPATH=src .venv/bin/python bench/sip2_kiosk.py [--kiosks 8] [--messages 2000]

`--kiosks` connections each log in, then send `--messages` requests in turn (patron status 23,
checkout 11, checkin 09, with AY/AZ), one at a time and waiting for each answer as a kiosk
does, against the in-memory PatronAuthority / LibrarySystem of the tests (so the platform's
database is not what is measured). Baseline in the same run: a bare threaded TCP server that
answers each line with a canned line of the same length (framing and sockets only). Prints
messages/s and p50/p99 per message for both, and the ratio. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import socket
import socketserver
import statistics
import threading
import time
from datetime import UTC, datetime

from tests.library.sip2_fakes import (
    KIOSK_LOGIN,
    KIOSK_PASSWORD,
    FakeAccounts,
    FakeAuthority,
    FakeLibrary,
)

from yikatong.core.clock import SystemClock
from yikatong.library.protocols import Patron
from yikatong.library.sip2 import codec
from yikatong.library.sip2.server import running
from yikatong.library.sip2.session import Sip2Backend, Sip2Config


def frame(text: str, sequence: int) -> bytes:
    body = f"{text}AY{sequence}AZ".encode()
    return body + codec.checksum(body).encode() + b"\r"


def kiosk_script(kiosk: int, messages: int) -> list[bytes]:
    now = codec.format_date(datetime.now(UTC))
    card, barcode = f"CZ{kiosk:08d}", f"B{kiosk:05d}"
    cycle = [f"23000{now}AOCZLIB|AA{card}|AC|AD|",
             f"11NN{now}{' ' * 18}AOCZLIB|AA{card}|AB{barcode}|AC|",
             f"09N{now}{now}APKIOSK|AOCZLIB|AB{barcode}|AC|"]
    return [frame(cycle[i % 3], i % 10) for i in range(messages)]


def drive(port: int, kiosks: int, messages: int, *, log_in: bool) -> list[float]:
    times: list[list[float]] = [[] for _ in range(kiosks)]

    def one(kiosk: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            reader = sock.makefile("rb")
            if log_in:
                sock.sendall(frame(f"9300CN{KIOSK_LOGIN}|CO{KIOSK_PASSWORD}|", 9))
                assert _read_line(reader).startswith(b"941"), "login refused"
            for line in kiosk_script(kiosk, messages):
                start = time.perf_counter()
                sock.sendall(line)
                _read_line(reader)
                times[kiosk].append(time.perf_counter() - start)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(kiosks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [t for per in times for t in per]


def _read_line(reader) -> bytes:
    out = bytearray()
    while not out.endswith(b"\r"):
        chunk = reader.read(1)
        if not chunk:
            break
        out += chunk
    return bytes(out)


class _Canned(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        reply = b"12" + b"x" * 120 + b"\r"
        buffer = b""
        while True:
            data = self.request.recv(4096)
            if not data:
                return
            buffer += data
            while b"\r" in buffer:
                _, buffer = buffer.split(b"\r", 1)
                self.request.sendall(reply)


class _CannedServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def report(name: str, samples: list[float], wall: float) -> float:
    ordered = sorted(samples)
    rate = len(samples) / wall
    print(f"{name:<10} {rate:>9.0f} msg/s   p50 {statistics.median(ordered) * 1e3:6.3f} ms"
          f"   p99 {ordered[int(len(ordered) * 0.99) - 1] * 1e3:6.3f} ms")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kiosks", type=int, default=8)
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()

    authority, library = FakeAuthority(), FakeLibrary()
    for kiosk in range(args.kiosks):
        card = f"CZ{kiosk:08d}"
        authority.patrons[card] = Patron(f"R{kiosk:06d}", kiosk, "张*丰", "card", card)
        library.add_item(f"B{kiosk:05d}", "围城")
    backend = Sip2Backend(authority=authority, library=library, accounts=FakeAccounts(),
                          clock=SystemClock())

    canned = _CannedServer(("127.0.0.1", 0), _Canned)
    threading.Thread(target=canned.serve_forever, daemon=True).start()
    start = time.perf_counter()
    base = drive(canned.server_address[1], args.kiosks, args.messages, log_in=False)
    base_rate = report("baseline", base, time.perf_counter() - start)
    canned.shutdown()

    with running(backend, Sip2Config(library_code="CZLIB")) as server:
        start = time.perf_counter()
        ours = drive(server.port, args.kiosks, args.messages, log_in=True)
        rate = report("sip2", ours, time.perf_counter() - start)
    print(f"sip2 / baseline: {rate / base_rate:.2f} ({args.kiosks} kiosks, "
          f"{args.messages} messages each)")


if __name__ == "__main__":
    main()
