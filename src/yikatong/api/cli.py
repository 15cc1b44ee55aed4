"""`ykt serve`: migrate, load reference data, start the API and the background worker."""

from __future__ import annotations

import threading

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def register(group) -> None:
    @group(None).command("serve")
    def serve_command(
        host: str = typer.Option(None, help="Listen address (default YKT_HOST or 127.0.0.1)"),
        port: int = typer.Option(None, help="Port (default YKT_PORT or 8000)"),
        worker: bool = typer.Option(True, help="Run background jobs in this process too"),
    ) -> None:
        """Start the platform / 启动平台."""
        import uvicorn

        from yikatong.api import logging as access_logging
        from yikatong.api.app import create_app
        from yikatong.cli.context import platform
        from yikatong.platform_setup import prepare
        from yikatong.worker.runner import run_forever

        plat = platform()
        credentials = prepare(plat)
        host = host or plat.settings.host
        port = port or plat.settings.port
        _print_welcome(plat, host, port, credentials)
        stop = threading.Event()
        if worker:
            threading.Thread(target=run_forever, args=(plat,), kwargs={"stop": stop.is_set},
                             daemon=True, name="ykt-worker").start()
        access_logging.install()
        try:
            uvicorn.run(create_app(plat), host=host, port=port, log_level="info")
        finally:
            stop.set()


def _print_welcome(plat, host: str, port: int, credentials: dict[str, str]) -> None:
    url = f"http://{host}:{port}"
    console.print(f"[bold]Yikatong 江苏（常州）一卡通[/bold] on {plat.engine.url.render_as_string()}")
    console.print(f"  platform / 平台:   {url}")
    console.print(f"  API docs / 接口文档: {url}/docs  (OpenAPI: {url}/openapi.json)")
    table = Table(title="demo credentials / 演示账号 (development only)")
    table.add_column("username")
    table.add_column("password")
    for username, password in credentials.items():
        table.add_row(username, password)
    console.print(table)
