"""`ykt discounts …`: campaigns from the command line (the card centre's hand).

    ykt discounts load                               reference campaigns and their merchants
    ykt discounts list [--status active]
    ykt discounts report CODE                        figures, per day and per merchant
    ykt discounts enrol CODE MERCHANT [--name 名称]
    ykt discounts status CODE active|paused|closed
    ykt discounts grant CODE --person-id N --key K   a tourism voucher for a holder
    ykt discounts settle CODE --period YYYY-MM       statements, one per merchant
    ykt discounts expire-vouchers                    unused vouchers past their day give back

Each change is a `discounts.service` use case (one transaction, one audit record); refusals print
their code and both messages and exit non-zero (`cli.main.fail`)."""

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


def _run(change, *, read_only: bool = False):
    """The use case on the CLI's platform; a refusal is printed and exits 1."""
    from yikatong.cli.context import platform
    from yikatong.cli.main import fail
    from yikatong.core.errors import DomainError

    try:
        with platform().uow(read_only=read_only) as uow:
            return change(uow)
    except DomainError as error:
        fail(error)


def register(group) -> None:
    discounts = group("discounts")
    import importlib

    try:  # the transit rebates' commands (discounts/rebates_cli.py, branch rebates) join these
        rebates_cli = importlib.import_module("yikatong.discounts.rebates_cli")
    except ModuleNotFoundError as error:
        if error.name != "yikatong.discounts.rebates_cli":
            raise
    else:
        rebates_cli.register(group)

    @discounts.command("load")
    def load() -> None:
        """The reference campaigns and their merchants / 载入参考优惠活动."""
        from yikatong.discounts import service

        added = _run(lambda uow: service.load_reference_data(uow=uow, actor=_operator()))
        console.print(f"[green]✓[/green] {added} campaigns added / 新增活动 {added} 个")

    @discounts.command("list")
    def list_campaigns(status: str | None = typer.Option(None, "--status")) -> None:
        """Every campaign with its budget / 活动列表."""
        from yikatong.discounts import service

        found = _run(lambda uow: service.campaigns(uow=uow, actor=_operator(), status=status), read_only=True)
        table = Table("code", "sponsor / 出资方", "kind / 类型", "period", "budget / 预算", "spent / 已用",
                      "left / 剩余", "status")
        for c in found:
            table.add_row(c.code, c.sponsor_code, c.kind_zh, f"{c.starts_on}–{c.ends_on}", _money(c.budget_fen),
                          _money(c.spent_fen), _money(c.left_fen), c.status)
        console.print(table)

    @discounts.command("report")
    def report(code: str = typer.Argument(...)) -> None:
        """A campaign's figures / 活动报表."""
        from yikatong.discounts import service

        r = _run(lambda uow: service.report(uow=uow, actor=_operator(), code=code), read_only=True)
        c = r.campaign
        console.print(f"{c.code} {c.name_zh} / {c.name_en}: budget {_money(c.budget_fen)}, spent "
                      f"{_money(c.spent_fen)}, left {_money(c.left_fen)}; redemptions {r.redemptions}, "
                      f"reversed {r.reversed} ({_money(r.reversed_fen)}), holders {r.holders}; "
                      f"stated {_money(r.settled_fen)}, paid {_money(r.paid_fen)}")
        table = Table("day / 日期", "count / 笔数", "amount / 金额")
        for day, count, fen in r.by_day:
            table.add_row(day.isoformat(), str(count), _money(fen))
        console.print(table)
        if r.by_payee:
            payees = Table("merchant / 商户", "count / 笔数", "amount / 金额")
            for payee, count, fen in r.by_payee:
                payees.add_row(payee, str(count), _money(fen))
            console.print(payees)

    @discounts.command("enrol")
    def enrol(code: str = typer.Argument(...), merchant: str = typer.Argument(...),
              name: str = typer.Option("", "--name")) -> None:
        """Enrol a merchant in a campaign / 商户报名活动."""
        from yikatong.discounts import service

        view = _run(lambda uow: service.enrol_merchant(uow=uow, actor=_operator(), code=code,
                                                        merchant_code=merchant, name_zh=name))
        console.print(f"[green]✓[/green] {code}: {', '.join(view.merchants)}")

    @discounts.command("status")
    def status(code: str = typer.Argument(...), wanted: str = typer.Argument(..., help="active | paused | closed"),
               reason: str = typer.Option("", "--reason")) -> None:
        """Pause, resume or close a campaign / 暂停、恢复或结束活动."""
        from yikatong.discounts import service

        view = _run(lambda uow: service.set_status(uow=uow, actor=_operator(), code=code, status=wanted,
                                                    reason=reason))
        console.print(f"[green]✓[/green] {code}: {view.status}")

    @discounts.command("grant")
    def grant(code: str = typer.Argument(...), person_id: int = typer.Option(..., "--person-id", min=1),
              key: str = typer.Option(..., "--key", help="idempotency key / 幂等键")) -> None:
        """Grant a holder a tourism voucher / 发放旅游抵扣券."""
        from yikatong.discounts import service

        v = _run(lambda uow: service.grant_voucher(uow=uow, actor=_operator(), campaign_code=code,
                                                   person_id=person_id, idempotency_key=key))
        console.print(f"[green]✓[/green] {v.code} {_money(v.face_fen)} until {v.valid_until}")

    @discounts.command("settle")
    def settle(code: str = typer.Argument(...), period: str = typer.Option(..., "--period", help="YYYY-MM")) -> None:
        """State a month's settlement, one statement per merchant / 出具结算单."""
        from yikatong.discounts import service

        made = _run(lambda uow: service.settle(uow=uow, actor=_operator(), campaign_code=code, period=period))
        table = Table("statement", "merchant / 商户", "redeemed / 核销", "reversed / 冲正", "owed / 应付")
        for s in made:
            table.add_row(str(s.id), s.payee_code, f"{s.redemptions} {_money(s.redeemed_fen)}",
                          f"{s.reversals} {_money(s.reversed_fen)}", _money(s.net_fen))
        console.print(table)
        console.print(f"[green]✓[/green] {len(made)} statements / 结算单 {len(made)} 张")

    @discounts.command("expire-vouchers")
    def expire_vouchers() -> None:
        """Unused vouchers past their last day expire; their value goes back / 回收过期抵扣券."""
        from yikatong.discounts import service

        expired = _run(lambda uow: service.expire_vouchers(uow=uow, actor=_operator()))
        console.print(f"[green]✓[/green] {len(expired)} vouchers expired / 过期 {len(expired)} 张")
