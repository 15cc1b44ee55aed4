"""`ykt simulate weekend`: two days of venues, gates on and off line, library kiosks and discount
campaigns, every fen and every entry reconciled (scenes/weekend.py)."""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from yikatong.cli.progress import RichStages
from yikatong.core.money import format_fen

console = Console()


def scratch_platform(directory: Path, start: datetime):
    """A platform on a new SQLite database with every table, the development key store, no
    login throttle (one kiosk logs in), and a clock the weekend moves."""
    from yikatong.core.clock import FixedClock
    from yikatong.core.settings import Settings
    from yikatong.db.registry import load_all_models
    from yikatong.platform import Platform

    settings = Settings(database_url=f"sqlite:///{directory / 'weekend.db'}", key_store_path="memory",
                        throttle_enabled=False)
    platform = Platform(settings, clock=FixedClock(start))
    load_all_models().create_all(platform.engine)
    return platform


def register(group) -> None:
    simulate = group("simulate")

    @simulate.command("weekend")
    def weekend_command(
        people: int = typer.Option(40, "--people", min=4, max=5000, help="card holders / 持卡人数"),
        saturday: str | None = typer.Option(None, "--saturday", help="YYYY-MM-DD, a Saturday (default: the next one)"),
        seed: int = typer.Option(20261128, "--seed"),
        database: str = typer.Option("scratch", "--database",
                                     help="'scratch': a new SQLite database; 'platform': the configured one "
                                          "(its clock must be settable)"),
    ) -> None:
        """Simulate a weekend: venues, gates on and off line, library kiosks over SIP2, campaigns
        running out of budget; every fen and every entry reconciled / 模拟一个周末，逐分逐笔对账."""
        from yikatong.scenes.weekend import default_saturday, simulate_weekend

        try:
            chosen = date.fromisoformat(saturday) if saturday else default_saturday(datetime.now(UTC).date())
        except ValueError:
            raise typer.BadParameter("YYYY-MM-DD") from None
        if chosen.weekday() != 5:
            raise typer.BadParameter(f"{chosen} is not a Saturday / 不是星期六")
        if database == "scratch":
            platform = scratch_platform(Path(tempfile.mkdtemp(prefix="ykt-weekend-")),
                                        datetime.combine(chosen - timedelta(days=1), time(8), tzinfo=UTC))
        elif database == "platform":
            from yikatong.cli.context import platform as configured

            platform = configured()
            if not hasattr(platform.clock, "set"):
                raise typer.BadParameter("the configured platform's clock cannot be moved; use --database scratch")
        else:
            raise typer.BadParameter("scratch | platform")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as bars:
            report = simulate_weekend(platform, people=people, saturday=chosen, seed=seed,
                                      progress=RichStages(bars))
        print_weekend(report)
        raise typer.Exit(0 if report.ok else 1)


def print_weekend(report) -> None:
    summary = Table(title=f"模拟周末 / simulated weekend {report.saturday}", show_header=False)
    refused = ", ".join(f"{k} ×{n}" for k, n in sorted(report.entries_refused.items())) or "none"
    rows = [
        ("database", report.database),
        ("people / 持卡人", f"{report.people}, {report.readers} opted in to the reader card"),
        ("tickets / 门票", f"{report.passes} passes and {report.tickets_bank} day tickets from the bank account "
                          f"({format_fen(report.sales_bank_fen)} CNY, vouchers {format_fen(report.voucher_discount_fen)}); "
                          f"{report.tickets_wallet} from the wallet ({format_fen(report.sales_wallet_fen)} CNY); "
                          f"{report.refunds} refunded ({format_fen(report.refunds_fen)} CNY)"),
        ("entries / 入园", f"{report.entries_online} online (Dinosaur Park), {report.entries_offline} offline "
                          f"(Tianmu Lake, {report.ecard_entries} of them by e-card QR; {report.list_refreshes} allow-list "
                          f"refreshes)"),
        ("refused / 拒绝", refused),
        ("offline upload / 离线上传", f"{report.entries_offline} entries uploaded, uploaded again: "
                                     f"{report.reuploaded_duplicates} duplicates"),
        ("sales refused / 售票被拒", ", ".join(f"{k} ×{n}" for k, n in sorted(report.sale_refusals.items()))
         or "none"),
        ("library / 图书馆", f"{report.checkouts} checkouts, {report.renewals} renewals, {report.checkins} checkins "
                            f"over SIP2 ({report.sip2_messages} messages)"),
        ("tills / 满减", f"{report.till_redemptions} redemptions ({format_fen(report.till_discount_fen)} CNY off), "
                        f"{report.till_refunds} refunded ({format_fen(report.till_refunded_fen)} CNY); refused: "
                        + (", ".join(f"{k} ×{n}" for k, n in sorted(report.till_refusals.items())) or "none")),
        ("metro / 地铁", f"{report.metro_rides} rides, fares {format_fen(report.fares_fen)} CNY, rebates "
                        f"{format_fen(report.rebates_fen)} CNY (written {format_fen(report.rebates_written_fen)}, waiting on the "
                        f"lost card {format_fen(report.rebates_waiting_fen)})"),
        ("wallet refunds / 退回钱包", f"{report.wallet_refunds} wallet ticket(s) given back unused "
                                     f"({format_fen(report.wallet_refunds_fen)} CNY), written on the chip at the next "
                                     f"contact: {format_fen(report.venue_refunds_written_fen)} CNY"),
        ("pass split / 年卡清分", f"{report.passes} passes ({report.passes_wallet} from the wallet) split per venue: "
                                 + ", ".join(f"{venue} {format_fen(fen)}" for venue, fen in report.pass_split.items())
                                 + f" CNY; moved {format_fen(report.pass_split_moved_fen)}, reversed by a refund "
                                 f"{format_fen(report.pass_split_reversed_fen)}"),
    ]
    for name, value in rows:
        summary.add_row(name, value)
    console.print(summary)
    for name, reason in report.lost_card_refusals.items():
        console.print(f"  lost card refused / 挂失卡被拒 — {name}: {reason}")
    venues = Table("venue", "day", "tickets", "bank", "wallet", "refunds", "entries",
                   title="景区结算 / venue settlement")
    for venue, day, tickets, bank, wallet, refunds, entries in report.venue_days:
        venues.add_row(venue, str(day), str(tickets), format_fen(bank), format_fen(wallet), format_fen(refunds),
                       str(entries))
    console.print(venues)
    campaigns = Table("campaign", "budget", "spent", title="优惠活动 / campaigns")
    for code, budget, spent in report.campaigns:
        campaigns.add_row(code, format_fen(budget), format_fen(spent))
    console.print(campaigns)
    statements = Table("campaign", "payee", "period", "net", title="出资方结算单 / sponsor statements")
    for code, payee, period, net in report.statements:
        statements.add_row(code, payee, period, format_fen(net))
    console.print(statements)
    checks = Table("", "check / 核对", "detail", title="每一分、每一笔都对得上 / every fen and entry reconciles")
    for check in report.checks:
        checks.add_row("[green]✓[/green]" if check.ok else "[red]✗[/red]", check.name, check.detail)
    console.print(checks)
