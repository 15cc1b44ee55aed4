"""`ykt card …`: show a card, report a loss, unblock, list expiry reminders.

The operator acts as the card-centre admin through the channel they name (the counter, the
12333 line, a bank branch, online on the holder's behalf), so the channel rules still apply.
"""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import local_text
from yikatong.core.errors import DomainError

console = Console()

STATUS_ZH = {
    "normal": "正常", "temporary_loss": "临时挂失", "formal_loss": "正式挂失", "frozen": "冻结",
    "not_in_use": "未启用", "retired": "已停用", "cancelled": "已作废", "inactive": "未激活",
    "active": "正常", "expired": "已过有效期", "closed": "已销户",
}


def _operator(channel: str, branch: str | None) -> Actor:
    try:
        acting = Channel(channel)
    except ValueError:
        raise typer.BadParameter(f"unknown channel {channel!r}; one of: "
                                 + ", ".join(c.value for c in Channel)) from None
    return Actor(user_id=f"cli:{getpass.getuser()}", role=Role.ADMIN, channel=acting,
                 branch_code=branch)


def print_card(view) -> None:
    from yikatong.cards.rules import mask_pan

    table = Table(show_header=False, title=f"社会保障卡 / card {view.card_no}")
    rows = [
        ("持卡人 / person", str(view.person_id)),
        ("状态 / state", view.state),
        ("人社功能 / HR", f"{STATUS_ZH.get(view.hr_status, view.hr_status)} ({view.hr_status})"
         + (f", 至 / until {local_text(view.hr_loss_ends_at)}" if view.hr_loss_ends_at
            else "")),
        ("金融功能 / financial", f"{STATUS_ZH.get(view.financial_status, view.financial_status)}"
         f" ({view.financial_status})"),
        ("合作银行 / bank", f"{view.bank_code} {mask_pan(view.pan)}"),
        ("发卡日期 / issued", view.issue_date.isoformat()),
        ("金融有效期至 / financial valid until", view.financial_valid_until.isoformat()),
    ]
    if view.predecessor_card_no:
        rows.append(("原卡 / predecessor", view.predecessor_card_no))
    if view.successor_card_no:
        rows.append(("新卡 / successor", view.successor_card_no))
    for block in view.blocks_in_force:
        rows.append((f"{block.function} {block.kind}", f"{block.channel} · {block.set_by} · "
                     f"{local_text(block.started_at)}"))
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


def register(group) -> None:
    card = group("card")

    @card.command("show")
    def show(card_no: str) -> None:
        """Show a card and its status / 查看卡片."""
        from yikatong.cards import service
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail

        try:
            with platform().uow() as uow:
                print_card(service.get_card(uow=uow, card_no=card_no))
        except DomainError as error:
            fail(error)

    @card.command("loss")
    def loss(card_no: str,
             kind: str = typer.Option(..., help="temporary | formal"),
             channel: str = typer.Option(..., help="phone_12333, online_portal, online_app, "
                                                   "bank_branch, …"),
             function: str = typer.Option(None, help="hr | financial | both"),
             branch: str = typer.Option(None, help="bank branch or outlet code")) -> None:
        """Report a card lost / 挂失."""
        from yikatong.cards import service
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail

        try:
            with platform().uow() as uow:
                outcome = service.report_loss(uow=uow, actor=_operator(channel, branch),
                                              card_no=card_no, kind=kind, function=function)
                uow.commit()
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] 已挂失 / reported lost: {card_no}")
        if outcome.referral_zh:
            console.print(f"[yellow]![/yellow] {outcome.referral_zh}\n  {outcome.referral_en}")
        print_card(outcome.card)

    @card.command("unblock")
    def unblock(card_no: str,
                channel: str = typer.Option(..., help="the channel the loss was reported on"),
                function: str = typer.Option(None, help="hr | financial | both"),
                branch: str = typer.Option(None, help="bank branch code")) -> None:
        """Unblock a card through the channel of its loss / 解挂."""
        from yikatong.cards import service
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail

        try:
            with platform().uow() as uow:
                outcome = service.unblock(uow=uow, actor=_operator(channel, branch),
                                          card_no=card_no, function=function)
                uow.commit()
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] 已解挂 / unblocked: {card_no}")
        for cancelled in outcome.cancelled_replacements:
            console.print(f"  补卡 {cancelled} 已作废 / replacement {cancelled} cancelled")
        print_card(outcome.card)

    @card.command("reminders")
    def reminders(within_days: int = typer.Option(90, help="days before the end")) -> None:
        """Holders whose financial function ends within 90 days or has ended / 到期换卡提醒."""
        from yikatong.cards import service
        from yikatong.cli.context import platform

        with platform().uow() as uow:
            due = service.expiry_reminders(uow=uow, within_days=within_days)
        table = Table(title="金融功能到期换卡提醒 / financial function expiry reminders")
        for column in ("card", "person", "bank", "valid until", "days left"):
            table.add_column(column)
        for reminder in due:
            table.add_row(reminder.card_no, str(reminder.person_id), reminder.bank_code,
                          reminder.financial_valid_until.isoformat(),
                          "已过期 / expired" if reminder.expired else str(reminder.days_left))
        console.print(table)
        console.print(f"{len(due)} 张 / cards")
