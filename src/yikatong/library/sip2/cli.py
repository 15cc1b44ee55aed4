"""`ykt library sip2-serve`: the SIP2 server for a library's self-service kiosks.

    ykt library sip2-serve --library CZLIB [--host 0.0.0.0] [--port 6001] [--checksums required]

Kiosks log in with a librarian login of that library (`ykt user add kiosk-czlib-01 --role
librarian --branch CZLIB`); docs/library-sip2.md.
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.console import Console

console = Console()


def register(library: typer.Typer) -> None:
    """Add `sip2-serve` to the `ykt library` group (library/cli.py calls this)."""

    @library.command("sip2-serve")
    def sip2_serve(
        library_code: str = typer.Option(..., "--library", help="the library's code, e.g. CZLIB"),
        host: str = typer.Option("127.0.0.1", help="address to listen on"),
        port: int = typer.Option(6001, min=0, max=65535, help="TCP port (SIP2 has no fixed one; 0: any free port)"),
        name: str = typer.Option("", help="the library's name sent to kiosks (98 AM)"),
        checksums: str = typer.Option(
            "auto", help="auto: answer in the kiosk's style; required: ask for a resend of "
                         "any message without AY/AZ"),
        encoding: str = typer.Option("utf-8", help="utf-8 or gb18030, as the kiosks are set"),
        idle_timeout: float = typer.Option(600.0, help="seconds a silent kiosk stays connected"),
    ) -> None:
        """Serve SIP2 to a library's kiosks / 为图书馆自助借还机提供 SIP2 服务."""
        import codecs

        from yikatong.cli.context import platform
        from yikatong.library.sip2.server import Sip2Server, platform_backend
        from yikatong.library.sip2.session import Sip2Config

        if checksums not in ("auto", "required"):
            raise typer.BadParameter("auto or required", param_hint="--checksums")
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise typer.BadParameter("unknown encoding", param_hint="--encoding") from None
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        config = Sip2Config(library_code=library_code, library_name=name, encoding=encoding,
                            error_detection=checksums)
        server = Sip2Server((host, port), backend=platform_backend(platform(), library_code),
                            config=config, idle_timeout=idle_timeout)
        console.print(f"SIP2 {library_code} on {host}:{server.port} / SIP2 服务已启动 (Ctrl-C)")
        sys.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            console.print("stopped / 已停止")
        finally:
            server.server_close()
