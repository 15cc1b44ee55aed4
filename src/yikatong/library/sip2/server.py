"""The SIP2 server over TCP: one thread per kiosk connection, one `KioskSession` each.

Kiosks keep one connection open all day and send one message at a time; a library has tens of
them, and every message is a blocking call into the platform's database, so a thread per
connection (socketserver) is the plain fit. A line longer than `MAX_LINE` or a connection idle
for `idle_timeout` seconds is closed. Nothing the kiosk sends is logged whole (it carries the
kiosk's password in a login and patron identifiers in every other message).
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from yikatong.library.sip2.session import KioskSession, Sip2Backend, Sip2Config

log = logging.getLogger("yikatong.library.sip2")

MAX_LINE = 8192


class _Handler(socketserver.BaseRequestHandler):
    server: Sip2Server

    def handle(self) -> None:
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        sock: socket.socket = self.request
        sock.settimeout(self.server.idle_timeout)
        session = KioskSession(self.server.backend, self.server.config, peer=peer)
        log.info("sip2 %s: connected", peer)
        buffer = b""
        try:
            while True:
                cut = buffer.find(b"\r")
                if cut < 0:
                    if len(buffer) > MAX_LINE:
                        log.warning("sip2 %s: line longer than %d bytes, closed", peer, MAX_LINE)
                        return
                    chunk = sock.recv(4096)
                    if not chunk:
                        return
                    buffer += chunk
                    continue
                line, buffer = buffer[:cut + 1], buffer[cut + 1:]
                if not line.strip(b"\r\n"):
                    continue
                reply = session.handle(line)
                if reply.data is not None:
                    sock.sendall(reply.data)
                if reply.close:
                    return
        except (TimeoutError, ConnectionError, OSError) as error:
            log.info("sip2 %s: connection ended (%s)", peer, type(error).__name__)
        finally:
            log.info("sip2 %s: disconnected", peer)


class Sip2Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], *, backend: Sip2Backend, config: Sip2Config,
                 idle_timeout: float = 600.0) -> None:
        self.backend, self.config, self.idle_timeout = backend, config, idle_timeout
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]


@contextmanager
def running(backend: Sip2Backend, config: Sip2Config, *, host: str = "127.0.0.1",
            port: int = 0, idle_timeout: float = 600.0) -> Iterator[Sip2Server]:
    """A server answering in a background thread until the block ends (port 0: any free port,
    read `server.port`)."""
    server = Sip2Server((host, port), backend=backend, config=config, idle_timeout=idle_timeout)
    thread = threading.Thread(target=server.serve_forever, name="sip2-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def platform_backend(platform, library_code: str) -> Sip2Backend:
    """The server's backend on the platform: the patron authority and the library system
    registered there (library/wiring.py: the platform's authority and the reference system,
    which records the kiosks' changes as the library's SIP2 gateway), the platform's kiosk
    logins, the platform's clock."""
    from yikatong.core.actor import Actor, Channel, Role
    from yikatong.library.protocols import LibrarySystem, PatronAuthority
    from yikatong.library.sip2.accounts import PlatformKioskAccounts
    from yikatong.library.system import ReferenceLibrarySystem

    library = platform.get(LibrarySystem)
    if isinstance(library, ReferenceLibrarySystem):  # one library's rules, its kiosks as actor
        library = ReferenceLibrarySystem(
            platform, library_code=library_code,
            actor=Actor(user_id=f"sip2:{library_code}", role=Role.LIBRARIAN,
                        channel=Channel.LIBRARY, branch_code=library_code))
    return Sip2Backend(authority=platform.get(PatronAuthority), library=library,
                       accounts=PlatformKioskAccounts(platform), clock=platform.clock)
