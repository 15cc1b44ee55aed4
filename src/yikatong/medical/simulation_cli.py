"""`ykt simulate medical-day`: a day of the city's hospitals through the institution interface,
every fen reconciled (medical/simulation.py)."""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from yikatong.cli.progress import RichStages
from yikatong.core.money import format_fen

console = Console()


def scratch_platform(directory: Path, day: date):
    """A platform on a new SQLite database with every table, the development key store, and a
    clock the simulation moves through the day."""
    from yikatong.core.clock import FixedClock
    from yikatong.core.settings import Settings
    from yikatong.db.registry import load_all_models
    from yikatong.platform import Platform

    settings = Settings(database_url=f"sqlite:///{directory / 'medical-day.db'}", key_store_path="memory",
                        throttle_enabled=False)
    platform = Platform(settings, clock=FixedClock(datetime(day.year, day.month, day.day, tzinfo=UTC)))
    load_all_models().create_all(platform.engine)
    return platform


def register(group) -> None:
    simulate = group("simulate")

    @simulate.command("medical-day")
    def medical_day_command(
        people: int = typer.Option(300, "--people", min=1, help="insured people / 参保人数"),
        visits: int = typer.Option(2000, "--visits", min=0, help="visits / 就诊人次"),
        day: str | None = typer.Option(None, "--day", help="YYYY-MM-DD, China Standard Time (default: today)"),
        seed: int = typer.Option(20260302, "--seed"),
        faults: float = typer.Option(0.05, "--faults", min=0.0, max=1.0,
                                     help="share of write messages interrupted / 中断报文比例"),
        database: str = typer.Option("scratch", "--database",
                                     help="'scratch': a new SQLite database; 'platform': the configured one"),
    ) -> None:
        """Simulate a day of the city's hospitals through the institution interface; every fen
        reconciled / 模拟一天的医院就诊结算，逐分对账."""
        from yikatong.medical.simulation import simulate_medical_day

        try:
            chosen = date.fromisoformat(day) if day else None
        except ValueError:
            raise typer.BadParameter("YYYY-MM-DD") from None
        if database == "scratch":
            platform = scratch_platform(Path(tempfile.mkdtemp(prefix="ykt-medical-day-")),
                                        chosen or datetime.now(UTC).date())
        elif database == "platform":
            from yikatong.cli.context import platform as configured

            platform = configured()
        else:
            raise typer.BadParameter("scratch | platform")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as bars:
            report, _world = simulate_medical_day(platform, people=people, visits=visits, day=chosen, seed=seed,
                                                  fault_rate=faults, progress=RichStages(bars))
        print_medical_day(report)
        raise typer.Exit(0 if report.ok else 1)


def print_medical_day(report) -> None:
    summary = Table(title=f"模拟就医日 / simulated medical day {report.day}", show_header=False)
    rows = [
        ("database", report.database),
        ("door / 接口", report.door),
        ("people / 参保人", f"{report.people}: " + ", ".join(f"{n} {k}" for k, n in sorted(report.people_by_kind.items()))),
        ("credited / 个人账户划入", f"{format_fen(report.credited)} CNY"),
        ("institutions / 定点机构", str(report.institutions)),
        ("visits / 就诊", f"{report.visits_planned} planned; settled: "
                         + ", ".join(f"{n} {k}" for k, n in sorted(report.visits.items()))
                         + f"; {report.cancelled} cancelled"),
        ("messages / 报文", str(report.messages)),
        ("interruptions / 中断", f"{report.answers_lost} answers lost (same msgid again), "
                                 f"{report.answers_lost_reversed} reversed after commit (2601), "
                                 f"{report.requests_lost} requests lost (2601), "
                                 f"{report.late_originals_refused} late originals refused"),
        ("money / 金额", f"fees {format_fen(report.medfee)}, fund {format_fen(report.fund_paid)}, "
                        f"accounts {format_fen(report.account_paid)}, cash {format_fen(report.cash_paid)} CNY"),
    ]
    for code, count in sorted(report.reversals_refused.items()):
        rows.append((f"reversal refused / 冲正被拒: {code}",
                     f"{count} × {report.refusal_examples.get(code, '')} (the original msgid sent again)"))
    for code, count in sorted(report.refused.items()):
        rows.append((f"refused / 拒绝: {code}", f"{count} × {report.refusal_examples.get(code, '')}"))
    for name, value in rows:
        summary.add_row(name, value)
    console.print(summary)
    checks = Table("", "check / 核对", "detail", title="每一分都对得上 / every fen reconciles")
    for check in report.checks:
        checks.add_row("[green]✓[/green]" if check.ok else "[red]✗[/red]", check.name, check.detail)
    console.print(checks)
