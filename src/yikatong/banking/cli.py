"""`ykt bank …`: run the reference bank as its own process, and its branch work.

    ykt bank serve --bank ICBC [--bank BOC …] [--namespace ykt]   (needs YKT_NATS_URL)
    ykt bank account --bank ICBC PAN
    ykt bank closures --bank ICBC
    ykt bank close --bank ICBC TASK_ID
"""

from __future__ import annotations

import getpass
import signal
import threading

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import local_text
from yikatong.core.errors import DomainError

console = Console()


def _check_codes(codes: list[str]) -> list[str]:
    from yikatong.directory.rules import packaged_banks

    known = {bank.code for bank in packaged_banks()}
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise typer.BadParameter(f"unknown bank code(s) {', '.join(unknown)}; one of "
                                 + ", ".join(sorted(known)))
    return codes


def _teller(bank_code: str, branch: str | None) -> Actor:
    return Actor(user_id=f"cli:{getpass.getuser()}", role=Role.BANK, channel=Channel.BANK_BRANCH,
                 bank_code=bank_code, branch_code=branch)


def _bank():
    from yikatong.banking.runtime import ReferenceBank
    from yikatong.cli.context import platform

    return platform().get(ReferenceBank)


def register(group) -> None:
    bank_group = group("bank")

    @bank_group.command("serve")
    def serve_command(
        bank: list[str] = typer.Option(..., "--bank", help="Bank code(s) to stand in for, e.g. ICBC"),
        namespace: str = typer.Option("ykt", help="Subject namespace (tests use their own)"),
        database_url: str = typer.Option(None, help="The bank's database (default: see docs)"),
    ) -> None:
        """Run the reference bank as its own process on NATS / 启动参考银行进程."""
        from yikatong.banking.node import serve
        from yikatong.banking.runtime import ReferenceBank, bank_database_url
        from yikatong.cli.main import fail
        from yikatong.core.clock import SystemClock
        from yikatong.core.settings import Settings
        from yikatong.crypto.wiring import key_store_from_settings
        from yikatong.db.engine import make_engine

        settings = Settings.from_env()
        if not settings.nats_url:
            fail(DomainError(zh="请设置 YKT_NATS_URL", en="Set YKT_NATS_URL to the NATS server"))
        codes = _check_codes(bank)
        url = database_url or bank_database_url(settings)
        reference = ReferenceBank(engine=make_engine(url), clock=SystemClock(), bank_codes=codes,
                                  keystore=lambda: key_store_from_settings(settings),
                                  owns_engine=True)
        stop = threading.Event()
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: stop.set())
        console.print(f"reference bank for {', '.join(codes)} on {settings.nats_url} "
                      f"(namespace {namespace}); Ctrl-C to stop", highlight=False)
        serve(reference, nats_url=settings.nats_url, namespace=namespace, stop=stop,
              replicas=settings.nats_replicas)
        console.print("stopped")

    @bank_group.command("account")
    def account_command(pan: str, bank: str = typer.Option(..., "--bank")) -> None:
        """Show an account / 查询账户."""
        from yikatong.banking import service
        from yikatong.cli.main import fail
        from yikatong.core.money import format_fen

        try:
            with _bank().uow() as uow:
                view = service.account_view(uow=uow, bank_code=bank, pan=pan)
        except DomainError as error:
            fail(error)
        table = Table(show_header=False, title=f"{view.bank_code} {view.pan}")
        for label, value in (("card", view.card_no), ("status", view.status),
                             ("balance", f"CNY {format_fen(view.balance_fen)}"),
                             ("valid until", str(view.valid_until)),
                             ("HR status (platform)", str(view.hr_status)),
                             ("held payments", str(view.held_payments))):
            table.add_row(label, value)
        console.print(table)

    @bank_group.command("closures")
    def closures_command(bank: str = typer.Option(..., "--bank"),
                         all_tasks: bool = typer.Option(False, "--all")) -> None:
        """Accounts to close after an exchange / 待销户任务."""
        from yikatong.banking import service
        from yikatong.cli.main import fail

        try:
            with _bank().uow() as uow:
                tasks = service.closure_tasks(uow=uow, bank_code=bank,
                                              status=None if all_tasks else "open")
        except DomainError as error:
            fail(error)
        table = Table("task", "card", "successor", "status", "requested")
        for task in tasks:
            table.add_row(task.task_id, task.card_no, task.successor_card_no or "", task.status,
                          local_text(task.requested_at))
        console.print(table)

    @bank_group.command("close")
    def close_command(task_id: str, bank: str = typer.Option(..., "--bank"),
                      branch: str = typer.Option(None)) -> None:
        """Close the account of a closure task at a branch / 网点销户."""
        from yikatong.banking import service
        from yikatong.cli.main import fail

        reference = _bank()
        try:
            with reference.uow() as uow:
                task = service.complete_closure(uow=uow, actor=_teller(bank, branch),
                                                bank_code=bank, task_id=task_id)
                reference.commit(uow)
        except DomainError as error:
            fail(error)
        console.print(f"✓ {task.task_id}: {task.status}")
