"""`ykt transit …`: the staff operations on rider categories (grants.py, riders.py) from the
command line, beside their HTTP routes in api.py.

The operator acts as the card-centre admin (`cli:<login>`), for a grant at the citizen-card
outlet named by `--outlet` (recorded with it, as a counter login's own outlet is). The grant,
revocation and reset each run in one unit of work and commit once (the service writes the
audit record and the outbox event). Input is checked against the same schemas as the HTTP
door, so the CLI accepts nothing the API would refuse as malformed.
"""

from __future__ import annotations

import getpass
import uuid

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from yikatong.core.clock import local_text

console = Console()

ROW_ID = {"min": 1, "max": 2**63 - 1}  # what a row id column holds (BIGINT), as api.ROW_ID
STATES_ZH = {"active": "有效", "revoked": "已撤销", "expired": "已过期"}


def _operator(outlet_code: str | None = None):
    from yikatong.core.actor import Actor, Channel, Role

    return Actor(user_id=f"cli:{getpass.getuser()}", role=Role.ADMIN, channel=Channel.SYSTEM,
                 branch_code=outlet_code)


def _checked(schema, **fields):
    """The fields validated by the HTTP door's schema; malformed input raises InvalidInput,
    worded as the API words it."""
    from pydantic import ValidationError

    from yikatong.core.errors import InvalidInput

    try:
        return schema(**fields)
    except ValidationError as error:
        problems = ["/".join(str(part) for part in e["loc"]) + f": {e['msg']}" for e in error.errors()]
        raise InvalidInput(reason_zh="格式不正确（" + "；".join(problems) + "）",
                           reason_en="malformed (" + "; ".join(problems) + ")") from None


def _key(key: str | None) -> str:
    """The idempotency key: the operator's (a retry), or a fresh one; the same bounds as the
    API's Idempotency-Key header."""
    from yikatong.core.errors import InvalidInput

    if key is None:
        return str(uuid.uuid4())
    if not 8 <= len(key) <= 128:
        raise InvalidInput(reason_zh="幂等键须为 8–128 个字符", reason_en="the idempotency key must be 8–128 characters")
    return key


def _proof(view) -> str:
    return escape(f"{view.proof_kind} {view.proof_reference}")  # the reference as the view masks it


def _granted(view) -> str:
    return f"{escape(view.granted_by)} · {escape(view.outlet_code or '-')} · {local_text(view.granted_at)}"


def print_grant(view) -> None:
    table = Table(show_header=False, title=f"乘客类别办理 / rider grant {view.id}")
    rows = [
        ("人员 / person", str(view.person_id)),
        ("类别 / category", view.category),
        ("证明 / proof", _proof(view)),
        ("有效期 / valid", f"{view.valid_from.isoformat()} – "
         + (view.valid_until.isoformat() if view.valid_until else "撤销为止 / until revoked")),
        ("状态 / state", f"{STATES_ZH.get(view.state, view.state)} ({view.state})"
         + (", 今日生效 / in force today" if view.in_force else "")),
        ("办理 / granted", _granted(view)),
    ]
    if view.revoked_at:
        rows.append(("撤销 / revoked", f"{escape(view.revoked_by or '-')} · {local_text(view.revoked_at)} · "
                     f"{escape(view.revoke_reason or '')}"))
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


def print_refused(views, title: str) -> None:
    table = Table(title=title)
    for column in ("ASN", "卡号 card", "人员 person", "卡上 on card", "应为 wanted", "拒绝次数 refusals",
                   "状态字 status", "标记于 flagged at", "最近读卡 last seen"):
        table.add_column(column)
    for view in views:
        table.add_row(view.asn, view.card_no or "-", str(view.person_id or "-"), view.on_card, view.wanted,
                      str(view.refusals), view.status or "-", local_text(view.refused_at),
                      f"{local_text(view.last_seen_at)} {view.last_seen_channel or ''}".strip())
    console.print(table)


def register(group) -> None:
    transit = group("transit")

    @transit.command("grant-rider")
    def grant_rider(
        person_id: int = typer.Argument(..., **ROW_ID, help="the registered person"),
        category: str = typer.Argument(..., help="student | disabled"),
        proof_kind: str = typer.Option(..., "--proof-kind",
                                       help="student_status_certificate, student_card, disability_certificate"),
        proof_ref: str = typer.Option(..., "--proof-ref", help="the certificate's number (shown masked afterwards)"),
        until: str | None = typer.Option(None, "--until", help="last day, YYYY-MM-DD (required for student)"),
        key: str | None = typer.Option(None, "--key", help="idempotency key of a try to repeat; new if left out"),
        outlet: str | None = typer.Option(None, "--outlet",
                                          help="the citizen-card outlet that checked the proof (recorded with the grant)"),
    ) -> None:
        """Grant a rider category against a proof / 办理乘客优惠类别."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.transit import grants
        from yikatong.transit.schemas import RiderGrantIn

        try:
            idempotency_key = _key(key)
            # Shown before the attempt: whatever happens next, the operator can repeat it safely.
            shown = escape(idempotency_key)  # an operator's key is text, not Rich markup
            console.print(f"幂等键 / idempotency key: {shown}（重试请加 / to retry add: --key {shown}）")
            body = _checked(RiderGrantIn, person_id=person_id, category=category, proof_kind=proof_kind,
                            proof_reference=proof_ref, valid_until=until)
            with platform().uow() as uow:
                if outlet is not None:
                    grants.check_granting_outlet(uow=uow, outlet_code=outlet)
                view = grants.grant_rider_category(uow=uow, actor=_operator(outlet), idempotency_key=idempotency_key,
                                                   **body.model_dump())
                uow.commit()
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] 已授予 / granted: {view.category} → {view.person_id} (grant {view.id})")
        print_grant(view)

    @transit.command("rider-grants")
    def rider_grants(person_id: int = typer.Argument(..., **ROW_ID, help="the registered person")) -> None:
        """A person's rider category grants, the newest first (proofs masked) / 乘客优惠类别办理记录."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.transit import grants

        try:
            with platform().uow() as uow:
                views = grants.list_rider_grants(uow=uow, person_id=person_id)
        except DomainError as error:
            fail(error)
        table = Table(title=f"乘客类别办理记录 / rider grants of person {person_id}")
        for column in ("id", "类别 category", "证明 proof", "起 from", "止 until", "状态 state", "生效 in force",
                       "办理 granted", "撤销原因 revoke reason"):
            table.add_column(column)
        for view in views:
            table.add_row(str(view.id), view.category, _proof(view),
                          view.valid_from.isoformat(), view.valid_until.isoformat() if view.valid_until else "-",
                          f"{STATES_ZH.get(view.state, view.state)} {view.state}", "是 yes" if view.in_force else "否 no",
                          _granted(view), escape(view.revoke_reason or ""))
        console.print(table)
        console.print(f"{len(views)} 条 / grants")

    @transit.command("revoke-rider-grant")
    def revoke_rider_grant(
        grant_id: int = typer.Argument(..., **ROW_ID),
        reason: str = typer.Option(..., "--reason", help="why the grant ends (kept in the audit)"),
    ) -> None:
        """Revoke a rider category grant; the card follows at its next contact / 撤销乘客优惠类别."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.transit import grants
        from yikatong.transit.schemas import RiderGrantRevokeIn

        try:
            body = _checked(RiderGrantRevokeIn, reason=reason)
            with platform().uow() as uow:
                view = grants.revoke_rider_grant(uow=uow, actor=_operator(), grant_id=grant_id, reason=body.reason)
                uow.commit()
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] 已撤销 / revoked: grant {view.id}")
        print_grant(view)

    @transit.command("refused-rewrites")
    def refused_rewrites(limit: int = typer.Option(50, min=1, max=500),
                         offset: int = typer.Option(0, min=0, max=2**63 - 1)) -> None:
        """Cards that refused their rider category update, the longest waiting first / 拒绝更新乘客类别的卡."""
        from yikatong.cli.context import platform
        from yikatong.transit import riders

        with platform().uow() as uow:
            views = riders.refused_rewrites(uow=uow, limit=limit, offset=offset)
        print_refused(views, "拒绝更新乘客类别的卡 / cards that refused their rider category update")
        console.print(f"{len(views)} 张 / cards")

    @transit.command("reset-refused-rewrite")
    def reset_refused_rewrite(
        asn: str = typer.Argument(..., help="the card's application serial number (20 digits)"),
    ) -> None:
        """Try a refused rider category update again at the card's next contact / 重新尝试更新乘客类别."""
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.transit import riders

        try:
            with platform().uow() as uow:
                view = riders.reset_refused_rewrite(uow=uow, actor=_operator(), asn=asn)
                uow.commit()
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] 已重置 / reset: {asn}，下次读卡时重新更新为 {view.wanted} "
                      f"/ the next contact tries {view.wanted} again")
