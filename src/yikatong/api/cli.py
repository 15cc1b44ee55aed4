"""`ykt serve`: check the start-up settings, migrate, load reference data, start the API and the
background worker."""

from __future__ import annotations

import threading
from datetime import timedelta

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
        clock: str = typer.Option(None, help="Development only: start the clock at this time "
                                  "(ISO, Changzhou time unless it names a zone), e.g. 2036-03-10T09:00"),
        workers: int = typer.Option(1, min=1, help="API worker processes (production: one per "
                                    "core); each builds its own platform from the environment"),
    ) -> None:
        """Start the platform / 启动平台."""
        import uvicorn

        from yikatong.api import logging as access_logging
        from yikatong.api.app import create_app
        from yikatong.cli.context import platform
        from yikatong.observability import logs
        from yikatong.platform_setup import prepare
        from yikatong.startup import check_startup_or_exit
        from yikatong.worker.runner import run_forever

        plat = platform()
        if workers > 1 and clock is not None:
            # Each worker process has its own clock: one moved in one process only would
            # answer differently from its siblings. Several workers run on the real clock.
            console.print("[red]✗ dev_clock_refused[/red] 多进程模式不能指定时钟 / --clock needs "
                          "--workers 1 (each worker process has its own clock)")
            raise typer.Exit(1)
        _start_clock(plat, clock)
        check_startup_or_exit(plat, console)
        demo = prepare(plat)
        host = host or plat.settings.host
        port = port or plat.settings.port
        _print_welcome(plat, host, port, demo)
        if workers > 1:  # before the jobs make any metric here; the workers inherit the folder
            _metrics_for_workers()
        stop = threading.Event()
        if worker:
            threading.Thread(target=run_forever, args=(plat,), kwargs={"stop": stop.is_set},
                             daemon=True, name="ykt-worker").start()
        access_logging.install()
        # JSON lines (or text), personal data and secrets masked, in every process.
        log_config = logs.log_config(logs.log_format(plat.settings))
        try:
            from yikatong.api.serving import HeadWithBodyProtocol, serve_workers

            if workers == 1:
                uvicorn.run(create_app(plat, settle_heap=True), host=host, port=port, log_level="info",
                            log_config=log_config, http=HeadWithBodyProtocol)
            else:  # uvicorn's supervisor starts (and restarts) the worker processes
                serve_workers(host=host, port=port, workers=workers, log_config=log_config)
        finally:
            stop.set()


def _metrics_for_workers() -> None:
    """prometheus_client's multiprocess mode (observability.metrics): PROMETHEUS_MULTIPROC_DIR
    if set, else a new folder of this run under the system's temporary folder."""
    import os
    import tempfile

    from yikatong.observability.metrics import MULTIPROCESS_ENV, enable_multiprocess

    folder = os.environ.get(MULTIPROCESS_ENV) or tempfile.mkdtemp(prefix="ykt-metrics-")
    enable_multiprocess(folder)


def _start_clock(plat, start: str | None) -> None:
    """In development the clock can be moved (POST /api/v1/dev/clock), from `start` if given;
    production refuses `--clock` and keeps its real clock."""
    from yikatong.core.clock import MovableClock, parse_local

    if plat.settings.is_production:
        if start is not None:
            console.print("[red]✗ dev_clock_refused[/red] 生产模式不能指定时钟（--clock 仅用于开发模式）/ "
                          "production refuses --clock (development mode only)")
            raise typer.Exit(1)
        return
    try:
        instant = parse_local(start) if start is not None else None
    except ValueError:
        console.print(f"[red]✗ invalid_input[/red] 时间格式不正确 / not an ISO time: {start!r}")
        raise typer.Exit(2) from None
    if callable(getattr(plat.clock, "advance", None)):  # already movable (tests, the demo)
        if instant is not None:
            plat.clock.advance(max(instant - plat.clock.now(), timedelta(0)))
        return
    plat.clock = MovableClock(instant, base=plat.clock)
    if instant is not None:
        console.print(f"[yellow]![/yellow] development clock starts at / 开发时钟起点 {start}")


def _print_welcome(plat, host: str, port: int, demo) -> None:
    url = f"http://{host}:{port}"
    mode = "production / 生产模式" if plat.settings.is_production else "development / 开发模式"
    console.print(f"[bold]Yikatong 江苏（常州）一卡通[/bold] on {plat.engine.url.render_as_string()} ({mode})")
    console.print(f"  platform / 平台:   {url}")
    console.print(f"  API docs / 接口文档: {url}/docs  (OpenAPI: {url}/openapi.json)")
    if not demo.credentials:
        return
    if demo.created:
        console.print(f"[yellow]![/yellow] development mode: created demo logins {', '.join(demo.created)} "
                      "(never in production, YKT_ENV=production) / 开发模式：已创建演示账号（生产模式不会创建）")
    table = Table(title="demo logins / 演示账号 (development mode only)",
                  caption="a demo login made by an earlier start keeps its own password")
    table.add_column("username")
    table.add_column("password")
    for username, password in demo.credentials.items():
        table.add_row(username, password)
    console.print(table)
