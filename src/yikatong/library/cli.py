"""`ykt library …`: the reader card and the reference library system from the command line.

    ykt library rules                         the loan rules (config, example defaults)
    ykt library load-reference                the demo items (also loaded at start-up)
    ykt library items [--q TEXT]
    ykt library add-item BARCODE --title T [--author A] [--location L]
    ykt library opt-in PERSON_ID              the person's card becomes their reader card
    ykt library patron IDENTIFIER             card / social security / reader number
    ykt library checkout IDENTIFIER BARCODE
    ykt library checkin BARCODE
    ykt library renew IDENTIFIER BARCODE
    ykt library loans [--overdue]

Each change is a `library.service` use case (one transaction, one audit record), done as the
card centre's operator (Role.ADMIN) at the CLI; refusals print their code and both messages
and exit non-zero (`cli.main.fail`). The SIP2 server's commands (library/sip2/cli.py, if
present) join this group.
"""

from __future__ import annotations

import getpass
import importlib

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _operator():
    from yikatong.core.actor import Actor, Channel, Role

    return Actor(user_id=f"cli:{getpass.getuser()}", role=Role.ADMIN, channel=Channel.SYSTEM)


def _do(operation, **kwargs):
    from yikatong.cli.context import platform
    from yikatong.cli.main import fail
    from yikatong.core.errors import DomainError

    try:
        with platform().uow() as uow:
            return operation(uow=uow, actor=_operator(), **kwargs)
    except DomainError as error:
        fail(error)


def _read(operation, **kwargs):
    from yikatong.cli.context import platform
    from yikatong.cli.main import fail
    from yikatong.core.errors import DomainError

    try:
        with platform().uow(read_only=True) as uow:
            return operation(uow=uow, actor=_operator(), **kwargs)
    except DomainError as error:
        fail(error)


def _outcome(outcome) -> None:
    due = f" · 应还 / due {outcome.due_on.isoformat()}" if outcome.due_on else ""
    title = f" {outcome.item.title} ({outcome.item.barcode})" if outcome.item else ""
    console.print(f"[green]✓[/green] {outcome.zh} / {outcome.en}:{title}{due}")
    if outcome.alert:
        console.print("[yellow]![/yellow] 有读者预约，请放预约架 / a reader holds it: hold shelf")


def register(group) -> None:
    library = group("library")

    @library.command("rules")
    def show_rules() -> None:
        """The loan rules of each library (example defaults) / 借阅规则."""
        from yikatong.library import rules

        figures = rules.figures()
        console.print(f"{figures.version} · {figures.status}")
        table = Table("library", "items", "days", "renewals", "holds", "overdue suspends",
                      "fee/day (fen)", "deposit (fen)", "confidence")
        for lib in figures.libraries:
            table.add_row(f"{lib.code} {lib.name_zh}", str(lib.loan_limit), str(lib.loan_days),
                          str(lib.renewals), str(lib.hold_limit), str(lib.overdue_suspends),
                          str(lib.overdue_fee_fen_per_day), str(lib.deposit_fen), lib.confidence)
        console.print(table)

    @library.command("load-reference")
    def load_reference() -> None:
        """Load the demo items / 加载示例馆藏."""
        from yikatong.library import service

        added = _do(lambda uow, actor: service.load_reference_data(uow=uow, actor=actor))
        console.print(f"[green]✓[/green] 新增 / added: {added} items")

    @library.command("items")
    def items(q: str = typer.Option("", "--q", help="title or barcode contains"),
              limit: int = typer.Option(100, "--limit", min=1, max=1000)) -> None:
        """The collection / 馆藏."""
        from yikatong.library import service

        table = Table("barcode", "title", "location", "status", "on loan to", "due")
        for row in _read(service.list_items, query=q, limit=limit):
            table.add_row(row.barcode, row.title, row.location, row.status, row.on_loan_to or "",
                          row.due_on.isoformat() if row.due_on else "")
        console.print(table)

    @library.command("add-item")
    def add_item(barcode: str, title: str = typer.Option(..., "--title"),
                 author: str = typer.Option("", "--author"),
                 location: str = typer.Option("", "--location"),
                 library_code: str | None = typer.Option(None, "--library")) -> None:
        """Add an item / 新增馆藏."""
        from yikatong.library import service

        row = _do(service.add_item, barcode=barcode, title=title, author=author,
                  location=location, library_code=library_code)
        console.print(f"[green]✓[/green] {row.barcode} {row.title} ({row.library_code})")

    @library.command("opt-in")
    def opt_in(person_id: int) -> None:
        """Make the person's card their reader card / 开通借阅功能."""
        from yikatong.library import service

        reader = _do(service.opt_in, person_id=person_id)
        console.print(f"[green]✓[/green] 读者证号 / reader number: {reader.reader_no}")

    @library.command("patron")
    def patron(identifier: str) -> None:
        """Who a card, social security number or reader number is, and may they borrow / 读者查询."""
        from yikatong.library import service

        found = _read(service.patron, identifier=identifier)
        console.print(f"{found.display_name} · {found.reader_no or '—'} · {found.presented} "
                      f"{found.card_no or ''}")
        if found.may_borrow:
            console.print("[green]可以借书 / may borrow[/green]")
        else:
            console.print(f"[red]不能借书 / may not borrow[/red]: {found.block_zh} / {found.block_en}"
                          f" ({', '.join(found.blocks)})")
        if found.account:
            for loan in found.account.loans:
                late = " [red]逾期 / overdue[/red]" if loan.overdue else ""
                console.print(f"  {loan.item_barcode} {loan.title} → {loan.due_on.isoformat()}{late}")

    @library.command("checkout")
    def checkout(identifier: str, barcode: str) -> None:
        """Lend an item / 借书."""
        from yikatong.library import service

        _outcome(_do(service.desk_checkout, identifier=identifier, barcode=barcode))

    @library.command("checkin")
    def checkin(barcode: str, location: str = typer.Option("", "--location")) -> None:
        """Take an item back / 还书."""
        from yikatong.library import service

        _outcome(_do(service.desk_checkin, barcode=barcode, location=location))

    @library.command("renew")
    def renew(identifier: str, barcode: str) -> None:
        """Renew a loan / 续借."""
        from yikatong.library import service

        _outcome(_do(service.desk_renew, identifier=identifier, barcode=barcode))

    @library.command("loans")
    def loans(overdue: bool = typer.Option(False, "--overdue"),
              limit: int = typer.Option(200, "--limit", min=1, max=10_000)) -> None:
        """Open loans, due first / 在借图书."""
        from yikatong.library import service

        table = Table("barcode", "title", "reader", "due", "renewals", "overdue")
        for row in _read(service.list_loans, overdue_only=overdue, limit=limit):
            table.add_row(row.item_barcode, row.title, row.reader_no, row.due_on.isoformat(),
                          str(row.renewals), "yes" if row.overdue else "")
        console.print(table)

    try:  # the SIP2 server's commands (library/sip2/cli.py), when that package is present
        sip2_cli = importlib.import_module("yikatong.library.sip2.cli")
    except ModuleNotFoundError as error:
        if error.name not in ("yikatong.library.sip2", "yikatong.library.sip2.cli"):
            raise
    else:
        sip2_cli.register(library)
