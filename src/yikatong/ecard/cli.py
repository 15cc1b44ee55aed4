"""`ykt ecard …`: show an e-card, consent on a channel and make a QR code (demos).

The operator acts as the card-centre admin; consent is the holder's, so `consent` records
it as given by the holder at the counter (audited under the operator's name).
"""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import local_text
from yikatong.core.errors import DomainError

console = Console()


def _admin() -> Actor:
    return Actor(user_id=f"cli:{getpass.getuser()}", role=Role.ADMIN, channel=Channel.SYSTEM)


def _find(uow, key: str):
    from yikatong.ecard import service

    key = key.strip()
    if len(key) == 9:
        return service.find_ecard(uow=uow, card_no=key.upper())
    if len(key) == 16 and key.isdigit():
        return service.find_ecard(uow=uow, ecard_no=key)
    return service.find_ecard(uow=uow, ssn=key)


def print_ecard(view) -> None:
    table = Table(show_header=False, title=f"电子社保卡 / e-card {view.ecard_no}")
    for label, value in (
        ("持卡人 / person", str(view.person_id)),
        ("状态 / state", f"{view.state_zh} ({view.state})"),
        ("说明 / reason", f"{view.reason_zh} / {view.reason_en}"),
        ("实体卡 / card", f"{view.card_no or '—'} · {view.card_status_zh} ({view.card_status})"),
        ("状态名单序号 / status index", str(view.status_index)),
        ("密码 / password", "已设置 set" if view.password_set else "未设置 not set"),
    ):
        table.add_row(label, value)
    for channel in view.channels:
        if channel.consented or channel.withdrawn_at:
            usable = "可用 usable" if channel.usable else f"不可用 {channel.refusal}"
            table.add_row(f"渠道 / {channel.code}",
                          f"{channel.name_zh}: {'已授权' if channel.consented else '已撤回'} · {usable}")
    console.print(table)


def register(group) -> None:
    ecard = group("ecard")

    @ecard.command("show")
    def show(ssn_or_card: str) -> None:
        """Show the e-card of an ssn, card number or e-card number / 查看电子社保卡."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail

        try:
            with platform().uow() as uow:
                print_ecard(_find(uow, ssn_or_card))
        except DomainError as error:
            fail(error)

    @ecard.command("consent")
    def consent(ssn_or_card: str, channel: str = typer.Argument("official_app")) -> None:
        """Record the holder's consent on a channel (demo) / 记录渠道授权."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.crypto.protocols import KeyStore
        from yikatong.ecard import service

        plat = platform()
        try:
            with plat.uow() as uow:
                person_id = _find(uow, ssn_or_card).person_id
            holder = Actor(user_id=f"cli:{getpass.getuser()}", role=Role.HOLDER,
                           channel=Channel.ONLINE_APP, person_id=person_id)
            with plat.uow() as uow:
                print_ecard(service.grant_consent(uow=uow, actor=holder, channel=channel,
                                                  keys=plat.get(KeyStore)))
        except DomainError as error:
            fail(error)

    @ecard.command("qr")
    def make_qr(card_no: str, out: Path = typer.Option(Path("qr.png"), "--out", "-o"),
                channel: str = typer.Option("official_app", "--channel")) -> None:
        """Write a QR code valid 60 s (PNG, or SVG by the file name) / 生成二维码."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.crypto.protocols import KeyStore
        from yikatong.ecard import qr, service

        plat = platform()
        try:
            with plat.uow() as uow:
                person_id = _find(uow, card_no).person_id
            with plat.uow() as uow:
                issued = service.issue_qr(uow=uow, actor=_admin(), channel=channel,
                                          person_id=person_id, keys=plat.get(KeyStore))
        except DomainError as error:
            fail(error)
        image = qr.render_svg(issued.token) if out.suffix.lower() == ".svg" \
            else qr.render_png(issued.token)
        out.write_bytes(image)
        console.print(f"✓ {out} · 有效至 / valid until {local_text(issued.expires_at, '%H:%M:%S')}")
        typer.echo(issued.token)  # unwrapped, for copying into a verifier
