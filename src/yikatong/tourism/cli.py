"""`ykt tourism …`: the reference venues, the venues and products, a venue's day (report and
entries), refunds at the card centre, and the entitlements a gate's allow-list is built from.

    ykt tourism load
    ykt tourism venues
    ykt tourism products [--venue DINO]
    ykt tourism report DINO [--day 2026-03-02]
    ykt tourism entitlements DINO [--day 2026-03-02]
    ykt tourism refund MP20260302000001 --reason …
    ykt tourism add-operator CZ-HONGMEI --zh 红梅公园管理处 --en "Hongmei Park office"
    ykt tourism add-venue HONGMEI --operator CZ-HONGMEI --zh 红梅公园 --en "Hongmei Park" [--kind scenic]
                          [--level 4A] [--district 天宁区] [--source …] [--free senior:70-]
    ykt tourism add-gate DINO DINO-G7 --zh 东门 --en "east gate" [--mode offline]
    ykt tourism add-product DINO-HM --kind pass --operator CZ-DINO --zh 双园卡 --en "two parks" --price 9900
                            --venue DINO --venue HONGMEI [--share DINO=6000 --share HONGMEI=4000]
                            [--slot 09:00-12:00=500]
    ykt tourism settle --from 2026-03-01 --to 2026-03-31
    ykt tourism settlements
    ykt tourism statement DINO --from 2026-03-01 --to 2026-03-31

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
    register_admin(tourism)

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


def _date(text: str):
    from datetime import date

    from yikatong.core.errors import InvalidInput

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(reason_zh="日期须为 YYYY-MM-DD", reason_en="a date must be YYYY-MM-DD") from None


def _free(texts: list[str]) -> list[dict]:
    """"senior:70-" (from 70), "child:-5" (up to 5), "everyone:0-" → free categories."""
    from yikatong.core.errors import InvalidInput

    found = []
    for text in texts:
        code, _, ages = text.partition(":")
        low, dash, high = ages.partition("-")
        if not code or not dash or not (low or high) or any(x and not x.isdigit() for x in (low, high)):
            raise InvalidInput(reason_zh="免票类别写作 代码:下限-上限", reason_en="a free category is code:min-max")
        category = {"code": code}
        if low:
            category["min_age"] = int(low)
        if high:
            category["max_age"] = int(high)
        found.append(category)
    return found


def _pairs(texts: list[str], what_zh: str, what_en: str) -> list[tuple[str, int]]:
    from yikatong.core.errors import InvalidInput

    pairs = []
    for text in texts:
        key, _, value = text.rpartition("=")
        if not key or not value.isdigit():
            raise InvalidInput(reason_zh=f"{what_zh}写作 名称=整数", reason_en=f"{what_en} is name=integer")
        pairs.append((key, int(value)))
    return pairs


def register_admin(tourism) -> None:
    """The card centre's commands: operators, venues, gates, products; settlement."""

    def run(change):
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        try:
            with platform().uow() as uow:
                return change(uow)
        except DomainError as error:
            fail(error)

    @tourism.command("add-operator")
    def add_operator(code: str = typer.Argument(...), zh: str = typer.Option(..., "--zh"),
                     en: str = typer.Option(..., "--en")) -> None:
        """Register a venue operator / 登记景区运营单位."""
        from yikatong.tourism import service

        o = run(lambda uow: service.add_operator(uow=uow, actor=_operator(), code=code, name_zh=zh, name_en=en))
        console.print(f"[green]✓[/green] {o.code} {o.name_zh}")

    @tourism.command("add-venue")
    def add_venue(code: str = typer.Argument(...), operator: str = typer.Option(..., "--operator"),
                  zh: str = typer.Option(..., "--zh"), en: str = typer.Option(..., "--en"),
                  kind: str = typer.Option("scenic", "--kind"), level: str = typer.Option("", "--level"),
                  district: str = typer.Option("", "--district"), source: str = typer.Option("", "--source"),
                  free: list[str] = typer.Option([], "--free", help="code:min-max, e.g. senior:70-")) -> None:
        """Register a venue under its operator / 登记景区或场馆."""
        from yikatong.tourism import service

        v = run(lambda uow: service.add_venue(
            uow=uow, actor=_operator(), code=code, operator_code=operator, name_zh=zh, name_en=en, kind=kind,
            level=level, district=district, source=source, free_categories=_free(free)))
        console.print(f"[green]✓[/green] {v.code} {v.name_zh} ({v.operator_code})")

    @tourism.command("add-gate")
    def add_gate(venue: str = typer.Argument(...), gate_id: str = typer.Argument(...),
                 zh: str = typer.Option(..., "--zh"), en: str = typer.Option(..., "--en"),
                 mode: str = typer.Option("online", "--mode", help="online | offline")) -> None:
        """Register a gate at a venue / 登记闸机."""
        from yikatong.tourism import service

        g = run(lambda uow: service.add_gate(uow=uow, actor=_operator(), venue_code=venue, gate_id=gate_id,
                                             name_zh=zh, name_en=en, mode=mode))
        console.print(f"[green]✓[/green] {g.venue_code} {g.gate_id} {g.mode}")

    @tourism.command("add-product")
    def add_product(code: str = typer.Argument(...), kind: str = typer.Option(..., "--kind"),
                    operator: str = typer.Option(..., "--operator"), zh: str = typer.Option(..., "--zh"),
                    en: str = typer.Option(..., "--en"), price: int = typer.Option(..., "--price", help="fen"),
                    venue: list[str] = typer.Option(..., "--venue"),
                    slot: list[str] = typer.Option([], "--slot", help="HH:MM-HH:MM=capacity"),
                    share: list[str] = typer.Option([], "--share", help="VENUE=basis points (a fixed split)")) -> None:
        """Put a day ticket or a pass on sale (a pass split by entries unless --share) / 发布门票或年卡."""
        from yikatong.tourism import service

        slots = [{"slot": s, "capacity": c} for s, c in _pairs(slot, "时段", "a slot")]
        split = {"basis": "fixed", "shares_bp": dict(_pairs(share, "份额", "a share"))} if share else None
        p = run(lambda uow: service.add_product(
            uow=uow, actor=_operator(), code=code, kind=kind, name_zh=zh, name_en=en, price_fen=price,
            venue_codes=list(venue), slots=slots, operator_code=operator, split=split))
        console.print(f"[green]✓[/green] {p.code} {_money(p.price_fen)} {' '.join(p.venue_codes)} {p.split or ''}")

    @tourism.command("settle")
    def settle(period_from: str = typer.Option(..., "--from"), period_to: str = typer.Option(..., "--to")) -> None:
        """Settle a period: split the passes' revenue per venue / 按景区清分结算."""
        from yikatong.tourism import settlement

        s = run(lambda uow: settlement.settle(uow=uow, actor=_operator(), period_from=_date(period_from),
                                              period_to=_date(period_to)))
        console.print(("[green]✓[/green] settled / 已结算" if s.created else "already settled / 该期已结算，未作变动")
                      + f" #{s.id} {s.period_from}..{s.period_to}: {s.tickets} passes / 张 {_money(s.amount_fen)}, "
                      f"moved / 划转 {_money(s.moved_fen)}, waiting for clearing / 待清算 {s.waiting}")
        table = Table("venue / 景区", "share / 分账")
        for venue_code, fen in s.venues.items():
            table.add_row(venue_code, _money(fen))
        console.print(table)

    @tourism.command("settlements")
    def settlements() -> None:
        """The settlements of pass revenue / 年卡清分结算记录."""
        from yikatong.tourism import settlement

        found = run(lambda uow: settlement.settlements(uow=uow, actor=_operator()))
        table = Table("#", "period / 结算期", "passes / 张", "amount / 金额", "moved / 划转", "waiting / 待清算")
        for s in found:
            table.add_row(str(s.id), f"{s.period_from}..{s.period_to}", str(s.tickets), _money(s.amount_fen),
                          _money(s.moved_fen), str(s.waiting))
        console.print(table)

    @tourism.command("statement")
    def statement(venue: str = typer.Argument(...), period_from: str = typer.Option(..., "--from"),
                  period_to: str = typer.Option(..., "--to")) -> None:
        """A venue's entries and revenue for a period / 景区结算单."""
        from yikatong.tourism import settlement

        r = run(lambda uow: settlement.venue_statement(uow=uow, actor=_operator(), venue_code=venue,
                                                      period_from=_date(period_from), period_to=_date(period_to)))
        table = Table("item / 项目", "value / 数值")
        for label, value in (("entries / 入园", r.entries),
                             ("day tickets / 门票", f"{r.day_tickets_sold} · {_money(r.day_ticket_sales_fen)}"),
                             ("refunds / 退票", f"{r.day_ticket_refunds} · {_money(r.day_ticket_refunds_fen)}"),
                             ("pass shares / 年卡分账", f"{r.pass_shares} · {_money(r.pass_shares_fen)}"),
                             ("pass reversals / 年卡退款冲回", f"{r.pass_reversals} · {_money(r.pass_reversals_fen)}"),
                             ("revenue / 收入", _money(r.revenue_fen))):
            table.add_row(label, str(value))
        for ground, count in r.entries_by_ground.items():
            table.add_row(f"  {ground}", str(count))
        console.print(f"{r.venue_code} {r.period_from}..{r.period_to}")
        console.print(table)
