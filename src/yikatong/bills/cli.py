"""`ykt bills …`: the reference billers' bills, the standing mandates due, exams and receipts.

    ykt bills issue-reference --biller CZ-WATER --period 2026-02 [--limit 100]
    ykt bills run-mandates [--day 2026-03-15]
    ykt bills exams load | list | cancel CODE --reason …
    ykt bills receipts [--payee CZ-WATER]

Each change is a `bills.service` use case (one transaction, one audit record each); refusals
print their code and both messages and exit non-zero (`cli.main.fail`).
"""

from __future__ import annotations

import getpass

import typer
from rich.console import Console
from rich.table import Table

from yikatong.cli.context import day_or_today

console = Console()


def _operator(role_name: str = "ADMIN"):
    from yikatong.core.actor import Actor, Channel, Role

    return Actor(user_id=f"cli:{getpass.getuser()}", role=Role[role_name], channel=Channel.SYSTEM)


def _money(fen: int) -> str:
    from yikatong.pages.formatting import money

    return money(fen)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console)


def register(group) -> None:
    bills = group("bills")
    exams = typer.Typer(no_args_is_help=True, help="personnel exams / 人事考试")
    bills.add_typer(exams, name="exams")

    @bills.command("issue-reference")
    def issue_reference(
        biller: str = typer.Option(..., "--biller", help="CZ-WATER | CZ-POWER | CZ-GAS"),
        period: str = typer.Option(..., "--period", help="the month billed, YYYY-MM"),
        limit: int = typer.Option(100, "--limit", min=1, max=100_000, help="how many card holders"),
    ) -> None:
        """The reference utility bills card holders for a month / 参考公共事业单位出账."""
        from yikatong.bills.biller import issue_reference_bills, reference_billers
        from yikatong.bills.errors import UnknownPayee
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        found = reference_billers().get(biller)
        if found is None:
            fail(UnknownPayee(payee_code=biller))
        try:
            with _progress() as bar:
                task = bar.add_task(f"{biller} {period}", total=None)
                ids = issue_reference_bills(uows=platform().uow, biller=found, period=period, limit=limit,
                                            progress=lambda done, total: bar.update(task, completed=done, total=total))
        except (DomainError, ValueError) as error:
            if isinstance(error, ValueError):
                from yikatong.core.errors import InvalidInput

                error = InvalidInput(reason_zh="账期须为 YYYY-MM", reason_en="the period must be YYYY-MM")
            fail(error)
        console.print(f"[green]✓[/green] 已出账 / issued: {len(ids)} bills, {biller} {period}")

    @bills.command("run-mandates")
    def run_mandates(day: str | None = typer.Option(None, "--day", help="YYYY-MM-DD; today if empty")) -> None:
        """Pay the bills due that standing mandates cover / 执行代扣."""
        from yikatong.bills import service
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        try:
            with platform().uow(read_only=True) as uow:
                chosen = day_or_today(day, uow)
            with _progress() as bar:
                task = bar.add_task(f"代扣 / mandates {chosen}", total=None)
                run = service.run_mandates(uows=platform().uow, day=chosen,
                                           progress=lambda done, total: bar.update(task, completed=done, total=total))
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] 已扣款 / paid: {len(run.paid)}; 未成功 / refused: {len(run.refused)}")
        if run.refused:
            table = Table("bill", "reason / 原因")
            for bill_id, code in sorted(run.refused.items()):
                table.add_row(str(bill_id), code)
            console.print(table)

    @bills.command("receipts")
    def receipts(payee: str | None = typer.Option(None, "--payee", help="a payee code; all if empty"),
                 limit: int = typer.Option(50, "--limit", min=1, max=1000)) -> None:
        """Receipts of the payments made / 缴费凭证."""
        from yikatong.bills import service
        from yikatong.cli.context import platform

        with platform().uow(read_only=True) as uow:
            found = service.payee_receipts(uow=uow, actor=_operator(), limit=10_000)
        found = [r for r in found if payee is None or r.payee_code == payee][-limit:]
        table = Table("receipt / 凭证号", "payee", "for / 项目", "amount / 金额", "payer / 缴费人", "status")
        for r in found:
            table.add_row(r.receipt_no, r.payee_code, r.title_zh, _money(r.amount_fen), r.payer_masked, r.status)
        console.print(table)

    @exams.command("load")
    def load() -> None:
        """Open the reference exams / 载入参考考试."""
        from yikatong.bills import service
        from yikatong.cli.context import platform

        with platform().uow() as uow:
            added = service.load_reference_data(uow=uow, actor=_operator())
        console.print(f"[green]✓[/green] {added} exams added / 新增考试 {added} 场")

    @exams.command("list")
    def list_exams() -> None:
        """The exams / 考试列表."""
        from yikatong.bills import service
        from yikatong.cli.context import platform

        with platform().uow(read_only=True) as uow:
            found = service.exams(uow=uow)
        table = Table("code", "exam / 考试", "date", "subjects", "status")
        for exam in found:
            table.add_row(exam.code, exam.name_zh, exam.exam_date.isoformat(), " · ".join(exam.subjects), exam.status)
        console.print(table)

    @exams.command("cancel")
    def cancel(code: str = typer.Argument(...), reason: str = typer.Option(..., "--reason")) -> None:
        """Cancel an exam and refund every fee paid / 取消考试并退费."""
        from yikatong.bills import service
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        try:
            with platform().uow() as uow:
                _, refunded = service.cancel_exam(uow=uow, actor=_operator(), exam_code=code, reason=reason)
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] 已取消 / cancelled {code}; refunded {len(refunded)} fees / 退费 {len(refunded)} 笔")
