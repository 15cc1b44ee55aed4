"""`ykt hr …`: the HR services from the command line, beside their pages (hrservices/web.py).

    ykt hr catalogue                      the services, what each needs and leads to
    ykt hr cases [--state submitted] [--person PERSON_ID] [--limit 50]

Reads only: a case changes through the holder's, the outlet's and the HR officer's doors, each
step with the card or the officer's login as the credential.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _reader():
    import getpass

    from yikatong.core.actor import Actor, Channel, Role

    return Actor(user_id=f"cli:{getpass.getuser()}", role=Role.ADMIN, channel=Channel.SYSTEM)


def register(group) -> None:
    hr = group("hr")

    @hr.command("catalogue")
    def catalogue() -> None:
        """The HR service catalogue / 人社服务目录."""
        from yikatong.hrservices import service

        book = service.catalogue()
        table = Table(title=f"人社服务目录 HR service catalogue ({book.version}, {book.status})")
        for column in ("代码 code", "事项 service", "申办 opened by", "材料 documents", "审核 steps", "结果 outcome"):
            table.add_column(column)
        for item in book.services:
            table.add_row(item.code, f"{item.zh}\n{item.en}", ", ".join(item.opened_by),
                          "\n".join(f"{book.documents[k].zh} {k}" for k in item.required),
                          " → ".join(item.review_steps), item.outcome)
        console.print(table)

    @hr.command("cases")
    def cases(
        state: str | None = typer.Option(None, "--state", help="open | submitted | in_review | more_documents | "
                                                                "approved | refused | withdrawn"),
        person: int | None = typer.Option(None, "--person", min=1, help="one person's cases"),
        limit: int = typer.Option(50, "--limit", min=1, max=500),
    ) -> None:
        """Cases, newest first (or one state's, oldest first) / 办件列表."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.hrservices import service

        try:
            with platform().uow() as uow:
                if state:
                    rows = service.queue(uow=uow, actor=_reader(), state=state, limit=limit)
                else:
                    rows = service.cases_of(uow=uow, actor=_reader(), person_id=person, limit=limit)
                counts = service.counts_by_state(uow=uow)
        except DomainError as error:
            fail(error)
        if person is not None:
            rows = [row for row in rows if row.person_id == person]
        table = Table(title="办件 HR cases")
        for column in ("#", "事项 service", "人员 person", "状态 state", "渠道 channel", "经办 officer", "申办 opened"):
            table.add_column(column)
        for row in rows:
            table.add_row(str(row.id), row.service_zh, str(row.person_id), f"{row.state_zh} {row.state}",
                          row.channel, row.officer or "—", row.opened_at.isoformat(timespec="minutes"))
        console.print(table)
        console.print(" · ".join(f"{state_name} {count}" for state_name, count in sorted(counts.items())) or "无办件 no cases")
