"""`ykt tourism …`: the reference venues, the venues and products, a venue's day (report and
entries), refunds at the card centre, and the entitlements a gate's allow-list is built from.

    ykt tourism load
    ykt tourism venues
    ykt tourism products [--venue DINO]
    ykt tourism report DINO [--day 2026-03-02]
    ykt tourism entitlements DINO [--day 2026-03-02]
    ykt tourism refund MP20260302000001 --reason …

Each change is a `tourism.service` use case (one transaction, one audit record); refusals
print their code and both messages and exit non-zero (`cli.main.fail`).
"""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.table import Table

from yikatong.cli.context import day_or_today

console = Console()


def _operator():
    from yikatong.core.actor import Actor, Channel, Role

    return Actor(user_id=f"cli:{getpass.getuser()}", role=Role.ADMIN, channel=Channel.SYSTEM)


def _money(fen: int) -> str:
    from yikatong.pages.formatting import money

    return money(fen)


def register(group) -> None:
    tourism = group("tourism")

    @tourism.command("load")
    def load() -> None:
        """Load the reference operators, venues and products / 载入参考景区."""
        from yikatong.cli.context import platform
        from yikatong.tourism import service

        with platform().uow() as uow:
            added = service.load_reference_data(uow=uow, actor=_operator())
        console.print(f"[green]✓[/green] {added} added / 新增 {added} 项")

    @tourism.command("venues")
    def venues() -> None:
        """The venues / 景区与场馆."""
        from yikatong.cli.context import platform
        from yikatong.tourism import service

        with platform().uow(read_only=True) as uow:
            found = service.venues(uow=uow)
        table = Table("code", "venue / 景区", "level / 等级", "operator / 运营", "free / 免票")
        for v in found:
            table.add_row(v.code, v.name_zh, v.level, v.operator_code,
                          " · ".join(c.get("name_zh") or c["code"] for c in v.free_categories))
        console.print(table)

    @tourism.command("products")
    def products(venue: str | None = typer.Option(None, "--venue")) -> None:
        """Tickets and passes on sale / 在售门票与年卡."""
        from yikatong.cli.context import platform
        from yikatong.tourism import service

        with platform().uow(read_only=True) as uow:
            found = service.products(uow=uow, venue_code=venue)
        table = Table("code", "product / 产品", "kind", "price / 价格", "venues", "slots / 时段")
        for p in found:
            table.add_row(p.code, p.name_zh, p.kind, _money(p.price_fen), " ".join(p.venue_codes),
                          " ".join(f"{s['slot']}×{s['capacity']}" for s in p.slots))
        console.print(table)

    @tourism.command("report")
    def report(venue: str = typer.Argument(...), day: str | None = typer.Option(None, "--day")) -> None:
        """A venue's day: sales, refunds, entries / 景区日结算."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.tourism import service

        try:
            with platform().uow(read_only=True) as uow:
                r = service.venue_day_report(uow=uow, actor=_operator(), venue_code=venue, day=day_or_today(day, uow))
        except DomainError as error:
            fail(error)
        table = Table("item / 项目", "value / 数值")
        for label, value in (("tickets sold / 售票", r.tickets_sold), ("bank / 银行账户", _money(r.sales_bank_fen)),
                             ("wallet / 电子钱包", _money(r.sales_wallet_fen)), ("discounts / 优惠", _money(r.discount_fen)),
                             ("refunds / 退票", f"{r.refunds} · {_money(r.refunds_fen)}"),
                             ("wallet refunds / 退回钱包", f"{r.wallet_refunds} · {_money(r.wallet_refunds_fen)}"),
                             ("net / 净额", _money(r.net_fen)),
                             ("entries / 入园", r.entries), ("offline / 离线上传", r.entries_offline),
                             ("exceptions / 异常", r.exceptions)):
            table.add_row(label, str(value))
        for ground, count in r.entries_by_ground.items():
            table.add_row(f"  {ground}", str(count))
        console.print(f"{r.venue_code} {r.day.isoformat()}")
        console.print(table)

    @tourism.command("entitlements")
    def entitlements(venue: str = typer.Argument(...), day: str | None = typer.Option(None, "--day")) -> None:
        """Who may enter a venue on a day (what a gate's allow-list is built from) / 当日可入园名单."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.tourism import service

        try:
            with platform().uow(read_only=True) as uow:
                found = service.entitlements(uow, venue, day_or_today(day, uow))
                free = service.free_categories(uow, venue)
        except DomainError as error:
            fail(error)
        table = Table("person", "ground / 依据", "reference", "cards / 卡号尾号", "slot")
        for e in found:
            table.add_row(str(e.person_id), str(e.ground), e.reference, " ".join(c[-4:] for c in e.card_nos),
                          e.slot or "")
        console.print(table)
        console.print(f"{len(found)} entitlements / 条")
        for c in free:  # decided at the gate from the age it reads, not listed person by person
            console.print(f"free / 免费: {c.get('name_zh') or c['code']} (min_age {c.get('min_age')}, "
                          f"max_age {c.get('max_age')})")

    @tourism.command("refund")
    def refund(ticket_no: str = typer.Argument(...), reason: str = typer.Option(..., "--reason")) -> None:
        """Refund an unused ticket or an unactivated pass / 退票."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.tourism import service

        try:
            with platform().uow() as uow:
                t = service.refund(uow=uow, actor=_operator(), ticket_no=ticket_no, reason=reason)
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] 已退 / refunded {t.ticket_no} {_money(t.paid_fen)}")
