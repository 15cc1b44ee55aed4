"""`ykt simulate day` and `ykt clearing upload|report|exceptions|disagreements`."""

from __future__ import annotations

import getpass
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from yikatong.cli.progress import RichStages
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.money import format_fen

console = Console()


def _operator() -> Actor:
    return Actor(user_id=f"cli:{getpass.getuser()}", role=Role.ADMIN, channel=Channel.SYSTEM)


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter("YYYY-MM-DD") from None


def scratch_platform(directory: Path):
    """A platform on a new SQLite database with every table, and the development key store."""
    from yikatong.core.settings import Settings
    from yikatong.db.registry import load_all_models
    from yikatong.platform import Platform

    platform = Platform(Settings(database_url=f"sqlite:///{directory / 'simulation.db'}", key_store_path="memory"))
    load_all_models().create_all(platform.engine)
    return platform


@contextmanager
def scratch_postgres(url: str, keep: bool) -> Iterator[object]:
    """A platform on a new PostgreSQL database (named ykt_simulation_…) on the server of
    `url`, with every table and the development key store; dropped afterwards unless `keep`."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from yikatong.core.settings import Settings
    from yikatong.db.engine import normalise_url
    from yikatong.db.registry import load_all_models
    from yikatong.platform import Platform

    server = make_url(normalise_url(url))
    name = f"ykt_simulation_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    platform = Platform(Settings(database_url=server.set(database=name).render_as_string(hide_password=False),
                                 key_store_path="memory"))
    try:
        load_all_models().create_all(platform.engine)
        yield platform
    finally:
        platform.engine.dispose()
        if keep:
            console.print(f"kept database {name}")
        else:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def register(group) -> None:
    simulate = group("simulate")
    clearing = group("clearing")

    @simulate.command("day")
    def day_command(
        cards: int | None = typer.Option(None, "--cards", min=1,
                                         help="emulated cards (default 200; --bulk: a third of the taps) / 卡数"),
        taps: int = typer.Option(2000, "--taps", min=0, help="taps at validators / 刷卡次数"),
        day: str | None = typer.Option(None, "--day", help="YYYY-MM-DD, China Standard Time (default: today)"),
        seed: int = typer.Option(20260302, "--seed"),
        database: str = typer.Option("scratch", "--database",
                                     help="'scratch': a new SQLite database; 'platform': the configured one"),
        top_up: str = typer.Option("auto", "--top-up", help="auto | transit | direct"),
        exchange_dir: Path | None = typer.Option(None, "--exchange-dir", help="files to and from the national house"),
        bulk_: bool = typer.Option(False, "--bulk", help="taps made in bulk, no emulated chips (millions) / 批量"),
        processes: int = typer.Option(2, "--processes", min=1, help="--bulk: TAC and review worker processes"),
        keep: bool = typer.Option(False, "--keep", help="--bulk on a postgresql:// server: keep the database"),
        trace: bool = typer.Option(False, "--trace", help="--bulk: a line per chunk and per 500 files (long runs)"),
    ) -> None:
        """Simulate a day: cards, top-ups, taps, uploads, clearing; every fen reconciled / 模拟一天.

        --bulk makes the day's taps with numpy and polars instead of emulated chips (docs/scale.md)
        and prints time and memory per stage; --database may then also be a postgresql:// server
        URL, on which a new database is made for the day."""
        from yikatong.clearing.simulation import simulate_day
        from yikatong.cli.context import platform as configured

        if bulk_:
            _bulk_day(taps=taps, cards=cards, day=_day(day), seed=seed, database=database,
                      processes=processes, keep=keep, exchange_dir=exchange_dir, trace=trace)
            return
        if top_up not in ("auto", "transit", "direct"):
            raise typer.BadParameter("auto | transit | direct")
        if database == "scratch":
            directory = Path(tempfile.mkdtemp(prefix="ykt-simulation-"))
            platform = scratch_platform(directory)
            exchange_dir = exchange_dir or directory / "national"
        elif database == "platform":
            platform = configured()
        else:
            raise typer.BadParameter("scratch | platform")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as bars:
            report = simulate_day(platform, cards=cards or 200, taps=taps, day=_day(day), seed=seed,
                                  exchange_dir=exchange_dir, top_up_path=top_up, progress=RichStages(bars))
        print_day(report)
        raise typer.Exit(0 if report.ok else 1)

    @clearing.command("upload")
    def upload_command(path: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
        """Receive a clearing file (terminal batch or the national house's) / 上传清算文件."""
        from yikatong.clearing import receive
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        try:
            result = receive.upload_batch(platform=platform(), actor=_operator(), content=path.read_bytes(),
                                          processes=2)
        except DomainError as error:
            fail(error)
        print_files([result])

    @clearing.command("report")
    def report_command(day: str = typer.Option(..., "--day", help="YYYY-MM-DD (China Standard Time)")) -> None:
        """Daily settlement report and reconciliation / 日结算报表与对账."""
        from yikatong.clearing import reports
        from yikatong.cli.context import platform

        with platform().uow() as uow:
            settlement = reports.settlement_report(uow=uow, day=_day(day))
            reconciliation = reports.reconcile(uow=uow, day=_day(day))
        print_settlement(settlement)
        console.print(f"对账 / reconciliation: {'[green]✓[/green]' if reconciliation.ok else '[red]✗[/red]'} "
                      f"{len(reconciliation.cards)} cards, {len(reconciliation.card_mismatches)} off; "
                      f"{sum(not a.agrees for a in reconciliation.accounts)} of {len(reconciliation.accounts)} "
                      "accounts off")
        raise typer.Exit(0 if reconciliation.ok else 1)

    @clearing.command("review")
    def review_command(day: str = typer.Option(..., "--day", help="YYYY-MM-DD (China Standard Time)")) -> None:
        """Re-rate every tap of the day and check counters / 日终复核（票价、计数器）."""
        from yikatong.clearing import day_review, receive
        from yikatong.cli.context import platform

        plat = platform()
        with plat.uow() as uow:
            result = day_review.review_day(uow=uow, actor=_operator(), day=_day(day), fares=receive.fares_of(plat),
                                        processes=2)
            uow.commit()
        print_review(result)

    @clearing.command("exceptions")
    def exceptions_command(all_: bool = typer.Option(False, "--all", help="resolved ones too"),
                           reason: str | None = typer.Option(None, "--reason")) -> None:
        """The exceptions list / 清算异常."""
        from yikatong.clearing import reports
        from yikatong.cli.context import platform

        with platform().uow() as uow:
            found = reports.list_exceptions(uow=uow, open_only=not all_, reason=reason)
        table = Table("file", "seq", "asn", "reason", "说明 / description", "resolved")
        for e in found:
            table.add_row(e.file_id, str(e.seq), e.asn, e.reason, f"{e.zh}\n{e.en}", e.resolution or "")
        console.print(table)

    @clearing.command("disagreements")
    def disagreements_command() -> None:
        """Cards whose last seen balance differs from the shadow balance / 余额差异."""
        from yikatong.clearing import shadow_balances
        from yikatong.cli.context import platform

        with platform().uow() as uow:
            found = shadow_balances.balance_disagreements(uow=uow)
        table = Table("asn", "card / 卡面", "shadow / 影子", "difference / 差额", "last seen")
        for d in found:
            table.add_row(d.asn, format_fen(d.card_balance), format_fen(d.shadow_balance), format_fen(d.difference),
                          d.last_seen)
        console.print(table)
        raise typer.Exit(1 if found else 0)


def _bulk_day(*, taps: int, cards: int | None, day: date | None, seed: int, database: str, processes: int,
              keep: bool, exchange_dir: Path | None, trace: bool = False) -> None:
    from yikatong.clearing.bulk_day import simulate_bulk_day
    from yikatong.cli.context import platform as configured

    if database.startswith("postgresql"):
        where = scratch_postgres(database, keep)
    elif database == "scratch":
        directory = Path(tempfile.mkdtemp(prefix="ykt-simulation-"))
        where = nullcontext(scratch_platform(directory))
        exchange_dir = exchange_dir or directory
    elif database == "platform":
        where = nullcontext(configured())
    else:
        raise typer.BadParameter("scratch | platform | postgresql://…")
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with where as platform, Progress(*columns, console=console, transient=False) as bars:
        report = simulate_bulk_day(platform, taps=taps, cards=cards, day=day, seed=seed, exchange_dir=exchange_dir,
                                   processes=processes, progress=RichStages(bars),
                                   trace=(lambda line: console.log(line)) if trace else None)
    print_bulk_day(report)
    raise typer.Exit(0 if report.ok else 1)


def print_bulk_day(report) -> None:
    console.print(f"模拟日（批量）/ bulk day {report.day}: {report.taps:,} taps by {report.cards_own:,} of our cards and "
                  f"{report.cards_visiting:,} from other cities, {report.top_ups:,} top-ups = "
                  f"{format_fen(report.top_up_amount)} CNY, fares {format_fen(report.fares_charged)} CNY; "
                  f"{report.files:,} files, {report.records_stored:,} records stored; "
                  f"{report.fare_situations:,} journey situations priced by the fare engine; database {report.database}")
    meter = report.meter
    stages = Table("stage / 阶段", "seconds", "CPU s", "peak memory MB", "load average", title="time and memory per stage")
    for name in sorted(meter.seconds):
        stages.add_row(name, f"{meter.seconds[name]:,.1f}", f"{meter.cpu[name]:,.1f}", f"{meter.peak[name] / 2**20:,.0f}",
                       f"{meter.load[name]:.1f}")
    stages.add_row("total", f"{report.seconds:,.1f}", f"{sum(meter.cpu.values()):,.1f}",
                   f"{max(meter.peak.values(), default=0) / 2**20:,.0f}", "")
    console.print(stages)
    console.print("receive.upload_batch, s / 上传分步: " + ", ".join(f"{name} {seconds:,.1f}"
                                                               for name, seconds in report.upload_stages.items()))
    if report.review is not None:
        print_review(report.review)
    checks = Table("", "check / 核对", "detail", title="每一分都对得上 / every fen reconciles")
    for check in report.checks:
        checks.add_row("[green]✓[/green]" if check.ok else "[red]✗[/red]", check.name, check.detail)
    console.print(checks)


def print_files(results) -> None:
    table = Table("file", "kind", "records", "cleared", "pending", "rejected", "exceptions", "settled CNY",
                  title="清算文件 / clearing files")
    for r in results:
        flags = ", ".join(f"{k} {v}" for k, v in r.exceptions.items()) or "-"
        table.add_row(r.file_id + (" (replay)" if r.replayed else ""), r.kind, str(r.records), str(r.cleared),
                      str(r.pending_national), str(r.rejected), flags, format_fen(r.settled_amount))
    console.print(table)


def print_settlement(settlement) -> None:
    table = Table("city", "operator", "issuer", "records", "CNY", title=f"结算 / settlement {settlement.day}")
    for line in settlement.lines:
        table.add_row(line.city, line.operator, line.issuer_id + (" (ours)" if line.own_card else ""),
                      str(line.count), format_fen(line.amount))
    table.add_row("", "", "total / 合计", str(settlement.total_count), format_fen(settlement.total_amount))
    console.print(table)
    console.print(f"top-ups cleared / 充值: {settlement.loads_count} = {format_fen(settlement.loads_amount)} CNY; "
                  f"waiting for the national house / 待全国清分: {settlement.pending_count}; "
                  f"rejected / 拒付: {settlement.rejected_count}")


def print_review(review) -> None:
    console.print(f"日终复核 / day review {review.day}: {review.taps} taps of {review.cards} cards re-rated "
                  f"({review.not_rated} without fares here); fare flags +{review.mismatches_opened} "
                  f"−{review.mismatches_resolved}, open {review.open_mismatches}; counter gaps "
                  f"+{review.gaps_opened} −{review.gaps_resolved}, open {review.open_gaps}")


def print_day(report) -> None:
    summary = Table(title=f"模拟日 / simulated day {report.day}", show_header=False)
    rows = [
        ("database", report.database),
        ("cards / 卡", f"{report.cards_own} ours, {report.cards_visiting} from other cities"),
        ("top-ups / 充值", f"{report.top_ups} = {format_fen(report.top_up_amount)} CNY through the "
                          f"{'transit top-up service' if report.top_up_path == 'transit' else 'chip load host directly'}"
                          f"; {report.top_up_tears} torn and recovered"),
        ("taps / 刷卡", f"{report.taps_played} played, {report.taps_accepted} accepted, refused "
                       f"{report.taps_refused or 0}"),
        ("tears / 拔卡", f"{report.tears} debits torn, {report.tears_debited} had debited (record recovered)"),
        ("fares / 车费", f"{format_fen(report.fares_charged)} CNY"),
    ]
    for reason, text in report.refusal_examples.items():
        rows.append((f"refused: {reason}", text))
    for name, value in rows:
        summary.add_row(name, value)
    console.print(summary)
    print_files(report.files)
    if report.review is not None:
        print_review(report.review)
    if report.settlement is not None:
        print_settlement(report.settlement)
    house = Table("payer issuer", "payee city", "CNY", title="全国清分中心头寸 / national house positions")
    for (payer, payee), amount in report.house_positions.items():
        house.add_row(payer, payee, format_fen(amount))
    console.print(house)
    checks = Table("", "check / 核对", "detail", title="每一分都对得上 / every fen reconciles")
    for check in report.checks:
        checks.add_row("[green]✓[/green]" if check.ok else "[red]✗[/red]", check.name, check.detail)
    console.print(checks)
