"""`ykt benefits certification …`: the pension confirmation's batch work from the command
line (the same use cases as the worker's jobs, certification_jobs.py).

    ykt benefits certification follow     follow the people enrolled in the pension
    ykt benefits certification remind     text pensioners whose confirmation runs out soon
    ykt benefits certification lapse      suspend the pensions whose confirmation ran out
    ykt benefits certification deaths     apply card deaths not applied yet (catch-up)
    ykt benefits certification collect    ask the bank to debit the owed recoveries
    ykt benefits certification status PERSON_ID
"""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()


def register(group) -> None:
    certification = typer.Typer(no_args_is_help=True,
                                help="pension eligibility confirmation / 养老金待遇资格认证")
    group("benefits").add_typer(certification, name="certification")

    # Each job once, now: the same functions the worker runs on its schedule.
    jobs = (("follow", "follow", "已纳入 followed",
             "Follow the people enrolled in the pension not followed yet / 纳入认证管理."),
            ("remind", "reminders", "已提醒 reminded",
             "Text each pensioner whose confirmation runs out within the window / 到期提醒."),
            ("lapse", "lapses", "已暂停 suspended",
             "Suspend the pensions whose confirmation ran out / 逾期暂停发放."),
            ("deaths", "deaths_from_outbox", "已读取事件 events read",
             "Apply the card deaths not applied yet: stop payments, record recoveries / 身故停发."),
            ("collect", "collect", "已追回 recovered",
             "Ask the bank to debit the owed recoveries / 发起银行追回."))
    for name, job, counted, help_text in jobs:
        certification.command(name, help=help_text)(_job_command(job, counted))

    @certification.command("status")
    def status(person_id: int = typer.Argument(..., min=1, max=2**63 - 1)) -> None:
        """A pensioner's confirmation state / 认证状态."""
        from yikatong.benefits import certification as service
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        try:
            with platform().uow(read_only=True) as uow:
                view = service.eligibility_of(uow=uow, person_id=person_id)
        except DomainError as error:
            fail(error)
            return
        console.print(f"{view.person_id} {view.name_masked} {view.ssn_masked}: "
                      f"{view.status_zh} / {view.status_en} · 有效至 valid until {view.valid_until}"
                      + (f" · 暂停自 suspended from {view.suspended_from}" if view.suspended_from else "")
                      + (f" · 身故 died {view.died_on}" if view.died_on else ""))


def _job_command(job: str, counted: str):
    def command() -> None:
        from yikatong.benefits import certification_jobs
        from yikatong.cli.context import platform

        count = getattr(certification_jobs, job)(platform())
        console.print(f"{counted}: {count}")

    return command
