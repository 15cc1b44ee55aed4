"""`ykt medical clear-regions --day D`: the daily inter-region clearing (interregion.clear_day)
as an operator's job: one batch per counterpart region with rows booked that day and not yet
cleared, a Rich progress bar over the regions, then per region the rows, the amounts
(receivable, payable, net, in yuan) and whether the national platform agreed or disputed the
file. Exits non-zero when any region was disputed (the rows stay open for another attempt).

Registered through medical/cli.py (`from yikatong.medical.clearing_cli import register`, or
`clearing_cli.register(group)` from the medical cli's own `register`).
"""

from __future__ import annotations

import getpass
from datetime import date

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

console = Console()


def _office():
    from yikatong.core.actor import Actor, Channel, Role

    return Actor(user_id=f"cli:{getpass.getuser()}", role=Role.MEDICAL_OFFICE, channel=Channel.MEDICAL_DESK)


def _yuan(fen: int) -> str:
    from yikatong.pages.formatting import money

    return money(fen)


def clear_regions(platform, *, actor, day: date, national=None, on_region=None) -> list:
    """Clear `day` with every region that has open rows that day, one batch (transaction) per
    region; `on_region(region)` after each. The batches, in region order."""
    from yikatong.medical import interregion
    from yikatong.medical.home_office import national_for

    national = national or national_for(platform)
    with platform.uow() as uow:
        regions = interregion.open_regions(uow=uow, day=day)
    batches = []
    for region in regions:
        with platform.uow() as uow:
            batches.append(interregion.clear_day(uow=uow, actor=actor, national=national,
                                                 counterpart_admdvs=region, day=day))
        if on_region:
            on_region(region)
    return batches


def register(group) -> None:
    medical = group("medical")

    @medical.command("clear-regions")
    def clear_regions_command(day: str = typer.Option(None, "--day", help="YYYY-MM-DD (CST); default yesterday")):
        """Clear a day with the other regions' medical insurance offices / 异地就医跨省（跨市）清算."""
        from datetime import timedelta

        from yikatong.cli import context
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError, InvalidInput
        from yikatong.medical import crossregion

        platform = context.platform()
        try:
            if day is None:
                with platform.uow() as uow:
                    on = crossregion.today(uow) - timedelta(days=1)
            else:
                try:
                    on = date.fromisoformat(day)
                except ValueError:
                    raise InvalidInput(reason_zh="日期须为 YYYY-MM-DD", reason_en="the day must be YYYY-MM-DD") from None
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          console=console) as progress:
                from yikatong.medical import interregion

                with platform.uow() as uow:
                    count = len(interregion.open_regions(uow=uow, day=on))
                task = progress.add_task(f"清算 / clearing {on.isoformat()}", total=count)
                batches = clear_regions(platform, actor=_office(), day=on,
                                        on_region=lambda _region: progress.advance(task))
        except DomainError as error:
            fail(error)
        if not batches:
            console.print(f"{on.isoformat()}: 无待清算记录 / nothing to clear")
            return
        table = Table(title=f"异地就医清算 / inter-region clearing {on.isoformat()}")
        for heading in ("地区 region", "文件 file", "笔数 rows", "应收 receivable", "应付 payable",
                        "净额 net", "结果 result"):
            table.add_column(heading)
        for batch in batches:
            result = "一致 agreed" if batch.status == "agreed" else "[red]有差异 disputed[/red]"
            table.add_row(batch.counterpart_admdvs, escape(batch.file_id), str(batch.rows), _yuan(batch.receivable),
                          _yuan(batch.payable), _yuan(batch.net), result)
        console.print(table)
        disputed = [batch for batch in batches if batch.status != "agreed"]
        for batch in disputed:
            console.print(f"[red]✗ {batch.counterpart_admdvs}[/red] {escape(str(batch.differences))}")
        if disputed:
            raise typer.Exit(1)
