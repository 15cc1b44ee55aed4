"""`ykt apply` (outlet application), `ykt production run|collect`, `ykt card face`."""

from __future__ import annotations

import getpass
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress

console = Console()


def _actor(role_name: str):
    from yikatong.core.actor import Actor, Channel, Role

    role = Role(role_name)
    channel = Channel.OUTLET if role == Role.SS_OUTLET else Channel.SYSTEM
    return Actor(user_id=f"cli:{getpass.getuser()}", role=role, channel=channel)


def register(group) -> None:
    _register_apply(group(None))
    _register_production(group("production"))
    _register_card_face(group("card"))


def _register_apply(app: typer.Typer) -> None:
    @app.command("apply")
    def apply_command(
        name: str = typer.Option(..., help="姓名 / applicant's name"),
        document_number: str = typer.Option(..., "--doc-number", help="证件号码"),
        gender: str = typer.Option(..., help="M / F"),
        birth_date: str = typer.Option(..., help="YYYY-MM-DD"),
        bank: str = typer.Option(..., help="partner bank code, e.g. ICBC"),
        outlet: str = typer.Option("SS-TN-01", help="pickup outlet code"),
        document_type: str = typer.Option("resident_id_card", "--doc-type"),
        valid_until: str = typer.Option("9999-12-31", help="document valid until"),
        nationality: str = typer.Option("CHN"),
        photo: Path | None = typer.Option(None, exists=True, help="JPEG 358×441 350 dpi"),
        kind: str = typer.Option("first", help="first / replacement / exchange"),
        exchange_reason: str | None = typer.Option(None, help="info_change / damage / financial_expiry"),
        card_unreadable: bool = typer.Option(False, help="damaged card the reader cannot read"),
        agent_name: str | None = typer.Option(None, help="代办人姓名"),
        agent_doc_type: str = typer.Option("resident_id_card"),
        agent_doc_number: str | None = typer.Option(None),
        approve: bool = typer.Option(False, help="approve at once (the operator checked the originals)"),
    ) -> None:
        """Apply at the outlet counter (free of charge) / 网点申领（免费）."""
        from yikatong.applications import service
        from yikatong.applications.rules import FREE_OF_CHARGE
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        actor = _actor("ss_outlet_operator")
        applicant = service.ApplicantData(
            name=name, document_type=document_type, document_number=document_number,
            gender=gender.upper(), birth_date=date.fromisoformat(birth_date),
            nationality=nationality, document_valid_until=date.fromisoformat(valid_until),
            photo_jpeg=photo.read_bytes() if photo else None)
        agent = (service.AgentData(name=agent_name, document_type=agent_doc_type,
                                   document_number=agent_doc_number or "")
                 if agent_name else None)
        choice = service.CardChoice(kind=kind, bank_code=bank, pickup_outlet_code=outlet,
                                    exchange_reason=exchange_reason,
                                    card_unreadable=card_unreadable)
        plat = platform()
        try:
            with plat.uow() as uow:
                app = service.submit_at_outlet(uow=uow, actor=actor, applicant=applicant,
                                               choice=choice, agent=agent)
            if approve and app.status == "submitted":
                with plat.uow() as uow:
                    app = service.approve(uow=uow, actor=actor, application_id=app.id)
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] application {app.id}: {app.kind}, {app.status}, "
                      f"bank {app.bank_code}, pickup at {app.pickup_outlet_code}")
        console.print(f"  fee: {FREE_OF_CHARGE['zh']} / {FREE_OF_CHARGE['en']}")
        for warning in app.warnings:
            console.print(f"  [yellow]warning[/yellow] {warning}")


def _register_production(production_group: typer.Typer) -> None:
    @production_group.command("run")
    def run_command(
        limit: int | None = typer.Option(None, help="at most this many applications"),
        max_polls: int = typer.Option(30, help="give up waiting after this many polls"),
        poll_interval: float = typer.Option(1.0, help="seconds between polls"),
    ) -> None:
        """Batch approved applications → card factory → collect results / 制卡."""
        from yikatong.applications.production import chip_personaliser, run_production
        from yikatong.applications.protocols import CardFactory
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        plat = platform()
        with Progress(console=console) as progress:
            task = progress.add_task("制卡 / producing cards", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            try:
                outcome = run_production(
                    uows=plat.uow, actor=_actor("admin"), factory=plat.get(CardFactory),
                    personalise=chip_personaliser(plat), limit=limit, max_polls=max_polls,
                    poll_interval=poll_interval, on_card=advance)
            except DomainError as error:
                fail(error)
        _print_outcome(outcome)

    @production_group.command("collect")
    def collect_command(batch_id: int) -> None:
        """Poll the factory for one batch and register what it produced / 回收制卡结果."""
        from yikatong.applications.production import chip_personaliser, collect_production_batch
        from yikatong.applications.protocols import CardFactory
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        plat = platform()
        try:
            outcome = collect_production_batch(
                uows=plat.uow, actor=_actor("admin"), factory=plat.get(CardFactory),
                batch_id=batch_id, personalise=chip_personaliser(plat))
        except DomainError as error:
            fail(error)
        _print_outcome(outcome)


def _print_outcome(outcome) -> None:
    batch = outcome.batch
    if not outcome.complete:
        console.print(f"[yellow]…[/yellow] batch {batch.id} ({batch.factory_batch_id}) still "
                      f"at the factory; run `ykt production collect {batch.id}` later")
        return
    console.print(f"[green]✓[/green] batch {batch.id}: {batch.produced} produced, "
                  f"{batch.failed} failed, issue date {batch.issue_date}")
    for card_no in outcome.produced_card_nos:
        console.print(f"  card {card_no}")
    for application_id, reason in outcome.failures:
        console.print(f"  [red]application {application_id}[/red]: {reason} (back to approved)")
    for warning in outcome.warnings:
        console.print(f"  [yellow]{warning}[/yellow]")


def _register_card_face(card_group: typer.Typer) -> None:
    @card_group.command("face")
    def face_command(
        card_no: str,
        out: Path = typer.Option(Path("face.png"), "--out", help="PNG file to write"),
    ) -> None:
        """Render a PNG proof of the card's sides A and B / 生成卡面 A、B 面样张."""
        from yikatong.applications import production, service
        from yikatong.applications.errors import UnknownCard
        from yikatong.applications.facecard import find_cjk_font, render_proof
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        try:
            with platform().uow() as uow:
                app = service.application_for_card(uow=uow, card_no=card_no)
                if app is None:
                    raise UnknownCard(card_no=card_no)
                proof = production.face_proof(uow=uow, application_id=app.id)
        except DomainError as error:
            fail(error)
        if find_cjk_font() is None:
            console.print("[yellow]warning[/yellow] no CJK font found (apt-get install "
                          "fonts-noto-cjk, or set YKT_CJK_FONT): Chinese text shows as boxes")
        out.write_bytes(render_proof(proof))
        console.print(f"[green]✓[/green] sides A and B of card {card_no} written to {out}")
