"""`ykt benefits …` for the disbursement (代发):

    ykt benefits run PROGRAMME --period 2026-12 [--retry] [--html report.html]
    ykt benefits report PROGRAMME --period 2026-12 [--html report.html]
    ykt benefits reference-list PROGRAMME --period 2026-12   the reference office's list
    ykt benefits upload PROGRAMME --period 2026-12 FILE.csv  an office's list (CSV)
    ykt benefits rebuild-account-map

The run draws Rich progress bars, then the report: a table and a chart of paid, held and
failed by bank and reason, in the terminal and, with --html, as an HTML page. Run it again
after a crash or while a bank has not answered: it continues where it stopped.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from yikatong.core.actor import Actor

console = Console()
PERIOD = typer.Option(..., "--period", help="YYYY-MM")


def _actor() -> Actor:
    return Actor.system("benefits-cli")


def register(group) -> None:
    benefits = group("benefits")

    @benefits.command("run")
    def run(programme: str = typer.Argument(..., help="pension | unemployment | work_injury | "
                                            "housing_fund | youth_talent | qclc"),
            period: str = PERIOD,
            retry: bool = typer.Option(False, "--retry", help="pay the failures waiting in the retry queue again"),
            html: Path | None = typer.Option(None, "--html", help="also write the report as an HTML page")) -> None:
        """Start or resume a period's disbursement run / 启动或继续代发."""
        from yikatong.benefits import runs
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.cli.progress import RichStages
        from yikatong.core.errors import DomainError

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            if retry:
                again = runs.retry_failed(platform(), actor=_actor(), programme_code=programme, period=period)
                console.print(f"重发 paying again: {again}")
            with Progress(*columns, console=console, transient=False) as bars:
                view = runs.run(platform(), actor=_actor(), programme_code=programme, period=period,
                                progress=RichStages(bars))
        except DomainError as error:
            fail(error)
        _print_report(view, html)

    @benefits.command("report")
    def report_command(programme: str = typer.Argument(...), period: str = PERIOD,
                       html: Path | None = typer.Option(None, "--html")) -> None:
        """A run's report: paid, held and failed by bank and reason / 发放报告."""
        from yikatong.benefits import runs
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        try:
            with platform().uow(read_only=True) as uow:
                view = runs.get_run(uow=uow, actor=_actor(), programme_code=programme, period=period)
        except DomainError as error:
            fail(error)
        _print_report(view, html)

    @benefits.command("reference-list")
    def reference_list(programme: str = typer.Argument(...), period: str = PERIOD) -> None:
        """The reference paying office computes the period's list and hands it in / 参考名单."""
        from yikatong.benefits import paying_office
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        try:
            with platform().uow() as uow:
                view = paying_office.submit_reference_list(uow=uow, actor=_actor(),
                                                           programme_code=programme, period=period)
                uow.commit()
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] 名单 payee list {view.programme_code} {view.period}: "
                      f"{view.row_count} rows, {_money(view.total_fen)}")

    @benefits.command("upload")
    def upload(programme: str = typer.Argument(...), period: str = PERIOD,
               file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV: id_number,name,amount_fen[,memo]")) -> None:
        """Hand in an office's payee list from a CSV file / 上传名单."""
        from yikatong.benefits import service
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        try:
            rows = service.parse_payee_csv(file.read_text(encoding="utf-8"))
            with platform().uow() as uow:
                view = service.receive_payee_list(uow=uow, actor=_actor(), programme_code=programme,
                                                  period=period, rows=rows)
                uow.commit()
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] 名单 payee list {view.programme_code} {view.period}: "
                      f"{view.row_count} rows, {_money(view.total_fen)}")

    @benefits.command("rebuild-account-map")
    def rebuild_account_map() -> None:
        """Recompute the ID→account map from the card registry / 重建账户映射."""
        from yikatong.benefits import accounts
        from yikatong.cli.context import platform

        with platform().uow() as uow:
            size = accounts.rebuild(uow=uow)
            uow.commit()
        console.print(f"[green]✓[/green] {size} people mapped to their current card's account")


def _money(fen: int) -> str:
    from yikatong.core.money import format_fen

    return f"¥{format_fen(fen)}"


def _print_report(view, html: Path | None) -> None:
    from yikatong.benefits import report, runs
    from yikatong.cli.context import platform

    with platform().uow(read_only=True) as uow:
        rows = runs.report_of(uow=uow, actor=_actor(), programme_code=view.programme_code,
                              period=view.period)
    state = "已对账 reconciled" if view.state == "reconciled" else "发放中 paying (run again to continue)"
    console.print(f"{view.programme_code} {view.period} · 发放日 pay day {view.pay_date} · {state}")
    if view.reconciliation:
        rec = view.reconciliation
        summary = Table(title="对账 Reconciliation" + (" ✓" if rec["balanced"] else " ✗ UNBALANCED"))
        for column in ("", "payees", "amount"):
            summary.add_column(column)
        for key in ("due", "posted", "held", "failed", "pending"):
            summary.add_row(key, str(rec[key]["count"]), _money(rec[key]["fen"]))
        console.print(summary)
    table = Table(title="按银行和原因 By bank and reason")
    for column in ("bank", "outcome", "reason", "payees", "amount"):
        table.add_column(column)
    for row in rows:
        table.add_row(row.bank_code, row.status, row.reason_code, str(row.count), _money(row.fen))
    console.print(table)
    for line in report.terminal_bars(rows):
        console.print(line)
    if html is not None:
        html.write_text(report.standalone_html(view, rows), encoding="utf-8")
        console.print(f"[green]✓[/green] HTML report: {html}")
