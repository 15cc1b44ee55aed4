"""`ykt discounts rebates …`: travel-discount rebates (出行优惠返还) over cleared batches.

    ykt discounts rebates run --file-id 304002000010-0012   one received clearing file
    ykt discounts rebates run --day 2026-03-02              every file received that day (CST) not run yet
    ykt discounts rebates run --pending                     every file not run yet
    ykt discounts rebates report [--campaign METRO50]       per campaign: taps, fen, holders, refused
    ykt discounts rebates deliver                           credit the pending account rebates at the banks
    ykt discounts rebates credits [--state pending]         the rebates to bank accounts and what became of them

Each file is one `rebates.run_batch` (one transaction, one audit record naming its rows); a
file already run prints what it did then.
"""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _operator():
    from yikatong.core.actor import Actor, Channel, Role

    return Actor(user_id=f"cli:{getpass.getuser()}", role=Role.ADMIN, channel=Channel.SYSTEM)


def _money(fen: int) -> str:
    from yikatong.pages.formatting import money

    return money(fen)


def register(group) -> None:
    rebates_group = typer.Typer(no_args_is_help=True, help="transit rebates / 出行优惠返还")
    group("discounts").add_typer(rebates_group, name="rebates")

    @rebates_group.command("run")
    def run(file_id: str | None = typer.Option(None, "--file-id", help="a received clearing file's id"),
            day: str | None = typer.Option(None, "--day", help="YYYY-MM-DD: the files received that day"),
            pending: bool = typer.Option(False, "--pending", help="every file without a run")) -> None:
        """Rebate cleared taps and credit the cards / 计算出行优惠并返还至卡."""
        from datetime import date

        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError, InvalidInput
        from yikatong.discounts import rebates

        if sum(x is not None and x is not False for x in (file_id, day, pending or None)) != 1:
            fail(InvalidInput(reason_zh="请给出 --file-id、--day 或 --pending 之一",
                              reason_en="give one of --file-id, --day, --pending"))
        try:
            if file_id is not None:
                with platform().uow() as uow:
                    views = [rebates.run_batch(uow=uow, actor=_operator(), file_id=file_id)]
                    uow.commit()
            else:
                chosen = None
                if day is not None:
                    try:
                        chosen = date.fromisoformat(day)
                    except ValueError:
                        fail(InvalidInput(reason_zh="日期须为 YYYY-MM-DD", reason_en="the day must be YYYY-MM-DD"))
                with platform().uow(read_only=True) as uow:
                    file_ids = rebates.pending_files(uow=uow, day=chosen)
                views = []
                for one in file_ids:
                    with platform().uow() as uow:
                        views.append(rebates.run_batch(uow=uow, actor=_operator(), file_id=one))
                        uow.commit()
        except DomainError as error:
            fail(error)
        table = Table("file / 文件", "taps / 笔", "rebated / 返还笔数", "amount / 金额", "wallets / 钱包",
                      "accounts / 银行账户",
                      "campaigns (taps, fen, holders, holder-limit, budget-out)", "note")
        for v in views:
            table.add_row(v.file_id, str(v.taps), str(v.granted), _money(v.amount), str(v.credits),
                          str(v.account_credits),
                          "; ".join(f"{c.campaign}: {c.taps}, {c.amount}, {c.holders}, {c.holder_limit}, "
                                    f"{c.budget_exhausted}" for c in v.campaigns),
                          "已执行 / run before" if v.replayed else "")
        console.print(table)
        console.print(f"[green]✓[/green] {len(views)} files / 个文件, "
                      f"{_money(sum(v.amount for v in views if not v.replayed))} credited / 返还")

    @rebates_group.command("report")
    def report(campaign: str | None = typer.Option(None, "--campaign", help="a campaign code; all if empty")) -> None:
        """Per campaign: taps rebated, fen, holders, taps refused / 各活动返还统计."""
        from yikatong.cli.context import platform
        from yikatong.discounts import rebates

        with platform().uow(read_only=True) as uow:
            rows = rebates.campaign_report(uow=uow, campaign=campaign)
        table = Table("campaign / 活动", "taps / 返还笔数", "amount / 金额", "holders / 持卡人",
                      "holder limit / 达上限", "budget out / 预算用尽", "campaign closed / 活动已结束")
        for r in rows:
            table.add_row(r.campaign, str(r.taps), _money(r.amount), str(r.holders), str(r.holder_limit),
                          str(r.budget_exhausted), str(r.campaign_closed))
        console.print(table)

    @rebates_group.command("deliver")
    def deliver(limit: int = typer.Option(200, "--limit", min=1, max=10_000)) -> None:
        """Credit the pending account rebates at the cards' banks / 向银行账户发放待发返还."""
        from yikatong.cli.context import platform
        from yikatong.discounts import rebates

        done = rebates.deliver_account_credits(platform(), actor=_operator(), limit=limit)
        with platform().uow(read_only=True) as uow:
            waiting = len(rebates.account_credits(uow=uow, state=rebates.PENDING, limit=10_000))
        console.print(f"[green]✓[/green] {done} answered / 银行已答复 {done} 笔; {waiting} pending / 待发 {waiting} 笔")

    @rebates_group.command("credits")
    def credits(state: str | None = typer.Option(None, "--state", help="pending | posted | held | to_wallet | "
                                                                       "undeliverable"),
                limit: int = typer.Option(50, "--limit", min=1, max=1_000)) -> None:
        """Rebates to bank accounts, newest first / 返还至银行账户明细."""
        from yikatong.cli.context import platform
        from yikatong.discounts import rebates

        with platform().uow(read_only=True) as uow:
            rows = rebates.account_credits(uow=uow, state=state, limit=limit)
        table = Table("credit / 编号", "file / 文件", "card / 卡", "bank / 银行", "sponsor / 出资方", "amount / 金额",
                      "state / 状态", "tries / 次数", "bank ref / 银行流水", "why / 原因", "wallet order / 钱包订单")
        for r in rows:
            table.add_row(r.request_id, r.file_id, r.card_no, r.bank_code, r.sponsor_code, _money(r.amount), r.state,
                          str(r.attempts), r.bank_reference or "", r.reason_code or "", r.order_no or "")
        console.print(table)
