"""`ykt sms …`: the development SMS outbox (codes and notices as "delivered") and the record
of every text message sent."""

from __future__ import annotations

import typer
from rich.table import Table

from yikatong.core.errors import DomainError


def register(group) -> None:
    sms = group("sms")

    @sms.command("outbox")
    def outbox(phone: str = typer.Option(None, help="only messages to this number"),
               limit: int = typer.Option(20, min=1, max=500)) -> None:
        """What the development outbox delivered, newest first (development mode only)."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import console, fail
        from yikatong.notices.api import development_outbox_of

        try:
            delivered = development_outbox_of(platform()).delivered(phone=phone, limit=limit)
        except DomainError as error:
            fail(error)
        table = Table(title="开发短信发件箱 / development SMS outbox")
        for column in ("id", "phone", "delivered", "text"):
            table.add_column(column, overflow="fold")
        for message in delivered:
            table.add_row(str(message.id), message.phone,
                          message.delivered_at.isoformat(timespec="seconds"), message.text)
        console.print(table)

    @sms.command("log")
    def log(person_id: int = typer.Option(None, min=1), limit: int = typer.Option(20, min=1, max=1000)) -> None:
        """The record of text messages sent (masked phone, codes blanked), newest first."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import console
        from yikatong.notices import service

        with platform().uow() as uow:
            messages = service.list_messages(uow=uow, person_id=person_id, limit=limit)
        table = Table(title="短信发送记录 / text messages sent")
        for column in ("id", "template", "phone", "status", "created", "text"):
            table.add_column(column, overflow="fold")
        for m in messages:
            table.add_row(str(m.id), m.template, m.phone_masked, m.status,
                          m.created_at.isoformat(timespec="seconds"), f"{m.text_zh}\n{m.text_en}")
        console.print(table)
