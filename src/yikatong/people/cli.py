"""`ykt person …`: look a person up, check an ID number, check a photo file."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def register(group) -> None:
    person = group("person")

    @person.command("show")
    def show_command(
        ssn: str,
        full: bool = typer.Option(False, "--full", help="Show the full number (audited)"),
        reason: str = typer.Option("", help="Why the full number is needed (required with --full)"),
    ) -> None:
        """Show a person by social security number, masked unless --full / 查询人员."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.actor import Actor, Channel, Role
        from yikatong.core.errors import DomainError
        from yikatong.people import errors, rules, service

        actor = Actor(user_id=f"cli:{getpass.getuser()}", role=Role.ADMIN, channel=Channel.SYSTEM)
        try:
            with platform().uow() as uow:
                view = service.find_person_by_ssn(uow=uow, ssn=ssn)
                if view is None:
                    raise errors.PersonNotFound()
                if full:
                    service.record_disclosure(uow=uow, actor=actor, person_id=view.id,
                                              reason=reason)
                    uow.commit()
        except DomainError as error:
            fail(error)
        table = Table(show_header=False)
        rows = {
            "id": str(view.id), "姓名 name": view.name,
            "社会保障号码 ssn": view.ssn if full else rules.mask_ssn(view.ssn),
            "性别 gender": view.gender, "出生日期 birth date": view.birth_date.isoformat(),
            "国籍 nationality": view.nationality, "人员识别号 person code": view.person_code,
            "证件 document": view.document_type or "-", "照片 photo": "yes" if view.has_photo else "no",
            "曾持省卡 had provincial card": "yes" if view.had_provincial_card else "no",
        }
        for key, value in rows.items():
            table.add_row(key, value)
        console.print(table)

    @person.command("check-id")
    def check_id_command(number: str) -> None:
        """Classify and check an identity number / 校验证件号码."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.clock import local_date
        from yikatong.people import rules
        from yikatong.people.errors import InvalidIdNumber

        try:
            info = rules.classify_id_number(number, today=local_date(platform().clock.now()))
        except InvalidIdNumber as error:
            fail(error)
        console.print(f"[green]✓[/green] {info.kind}  {rules.mask_ssn(info.number)}")
        if info.birth_date:
            console.print(f"  出生日期 birth date: {info.birth_date.isoformat()}")
        if info.gender:
            console.print(f"  性别 gender: {info.gender}")
        if info.region_code:
            console.print(f"  地区 region: {info.region_code} {info.region_name or ''}")
        if info.nationality:
            console.print(f"  国籍 nationality: {info.nationality}")
        for code in info.warnings:
            zh, en = rules.WARNINGS[code]
            console.print(f"  [yellow]! {code}[/yellow] {zh} / {en}")

    @person.command("check-photo")
    def check_photo_command(
        file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
    ) -> None:
        """Check a photo file against every rule of seed 四.4 / 检查照片."""
        from yikatong.people.photo import check_photo

        report = check_photo(file.read_bytes())
        table = Table("rule", "result", "measured")
        table.columns[0].no_wrap = True
        for result in report.results:
            if result.passed:
                verdict = "[green]pass[/green]"
            elif result.severity == "warning":
                verdict = "[yellow]warning[/yellow]"
            else:
                verdict = "[red]FAIL[/red]"
            table.add_row(result.code, verdict, result.measured)
        console.print(table)
        for result in report.failures + report.warnings:
            console.print(f"{result.code}: {result.zh} / {result.en}")
        raise typer.Exit(0 if report.accepted else 1)
