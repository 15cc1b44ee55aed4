"""`ykt user …`: staff and partner logins for the card centre, the first admin of a deployment,
passwords, deactivation, and partner API keys (issue, list, rotate, revoke)."""

from __future__ import annotations

import getpass
import sys
from datetime import timedelta

import typer
from rich.console import Console
from rich.table import Table

from yikatong.auth.rules import API_KEY_DEFAULT_LIFETIME, API_KEY_DEFAULT_ROTATION_GRACE

console = Console()

_STDIN_HELP = "read the password(s) from standard input, one per line (for scripts) / 从标准输入读取密码"


def _cli_actor():
    from yikatong.core.actor import Actor

    return Actor.system(f"cli:{getpass.getuser()}")


def _read_password(prompt: str, *, from_stdin: bool, confirm: bool) -> str:
    """A password typed twice (hidden), or one line of standard input."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)


def _in_transaction(change):
    """Run change(uow) in one transaction, committed; a DomainError ends the command (exit 1)."""
    from yikatong.cli.context import platform
    from yikatong.cli.main import fail
    from yikatong.core.errors import DomainError

    try:
        with platform().uow() as uow:
            result = change(uow)
            uow.commit()
            return result
    except DomainError as error:
        fail(error)


def register(group) -> None:
    users = group("user")

    @users.command("add")
    def add_command(
        username: str,
        role: str = typer.Option(..., help="e.g. ss_outlet_operator, bank, transit_operator"),
        bank: str = typer.Option(None, help="bank code for a bank login, e.g. CCB"),
        branch: str = typer.Option(None, help="branch, outlet or operator code"),
        name: str = typer.Option(None, help="display name"),
        employer: str = typer.Option(
            None, help="employer agents: the employer's unified social credit code (required)"),
        no_password: bool = typer.Option(False, help="a partner system that uses API keys only"),
        password_stdin: bool = typer.Option(False, help=_STDIN_HELP),
    ) -> None:
        """Add a staff or partner login / 新增工作人员或合作方账号."""
        from yikatong.auth.service import add_operator

        password = None if no_password else _read_password(
            "password / 密码", from_stdin=password_stdin, confirm=True)
        _in_transaction(lambda uow: add_operator(
            uow=uow, actor=_cli_actor(), username=username, password=password, role=role,
            display_name=name, bank_code=bank, branch_code=branch, employer_uscc=employer))
        console.print(f"[green]✓[/green] {username} ({role}) added / 已新增")

    @users.command("create-admin")
    def create_admin_command(
        username: str,
        name: str = typer.Option(None, help="display name"),
        password_stdin: bool = typer.Option(False, help=_STDIN_HELP),
    ) -> None:
        """The first card-centre admin of a deployment (a strong password is required) /
        创建首个管理员账号."""
        from yikatong.auth.errors import ReservedUsername
        from yikatong.auth.service import add_operator
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.platform_setup import is_demo_username

        if platform().settings.is_production and is_demo_username(username):
            fail(ReservedUsername(username=username))  # a production start refuses demo names
        password = _read_password("password / 密码", from_stdin=password_stdin, confirm=True)
        _in_transaction(lambda uow: add_operator(
            uow=uow, actor=_cli_actor(), username=username, password=password, role="admin",
            display_name=name))
        console.print(f"[green]✓[/green] admin {username} created / 管理员已创建")

    @users.command("password")
    def password_command(
        username: str,
        reset: bool = typer.Option(False, help="set a new password without the current one "
                                               "(a forgotten password); ends every session"),
        password_stdin: bool = typer.Option(False, help=_STDIN_HELP + " (current, then new)"),
    ) -> None:
        """Change a login's password (the current one is asked) / 修改密码."""
        from yikatong.auth.service import change_password, find_user, reset_password

        current = None if reset else _read_password(
            "current password / 当前密码", from_stdin=password_stdin, confirm=False)
        new = _read_password("new password / 新密码", from_stdin=password_stdin, confirm=True)

        def change(uow):
            user = find_user(uow=uow, username=username)
            if reset:
                return reset_password(uow=uow, actor=_cli_actor(), user=user, new_password=new)
            return change_password(uow=uow, actor=_cli_actor(), user=user,
                                   current_password=current, new_password=new)

        ended = _in_transaction(change)
        console.print(f"[green]✓[/green] password of {username} changed; {ended} session(s) ended "
                      "/ 密码已修改")

    for command, active in (("deactivate", False), ("reactivate", True)):
        _register_state_command(users, command, active)

    @users.command("api-key")
    def api_key_command(
        username: str,
        label: str = typer.Option(..., help="what the key is for"),
        days: int = typer.Option(API_KEY_DEFAULT_LIFETIME.days, help="days the key is valid (at most 365)"),
    ):
        """Issue an API key for a partner system (shown once) / 签发 API 密钥（仅显示一次）."""
        from yikatong.auth.service import find_user, issue_api_key

        key, access = _in_transaction(lambda uow: issue_api_key(
            uow=uow, user=find_user(uow=uow, username=username), label=label,
            actor=_cli_actor(), lifetime=timedelta(days=days)))
        console.print(f"API key #{access.id}, valid until {access.expires_at:%Y-%m-%d %H:%M} UTC "
                      "(shown once; send it as the X-API-Key header) / 仅显示一次:")
        console.print(key, soft_wrap=True)

    @users.command("api-keys")
    def api_keys_command(username: str):
        """List a login's API keys: id, label, last 4 characters, dates, status / 查看 API 密钥."""
        from yikatong.auth.rules import credential_status
        from yikatong.auth.service import find_user, list_api_keys

        def listing(uow):
            now = uow.now()
            return [(k, credential_status(revoked_at=k.revoked_at, expires_at=k.expires_at, now=now))
                    for k in list_api_keys(uow=uow, user=find_user(uow=uow, username=username))]

        table = Table(title=f"API keys of {username} (never the secret)")
        for column in ("id", "label", "…last 4", "created", "expires", "status"):
            table.add_column(column, no_wrap=True)
        for key, status in _in_transaction(listing):
            table.add_row(str(key.id), key.label or "", key.hint or "", f"{key.created_at:%Y-%m-%d}",
                          f"{key.expires_at:%Y-%m-%d}" if key.expires_at else "never", status)
        console.print(table)

    @users.command("rotate-api-key")
    def rotate_api_key_command(
        username: str, key_id: int,
        grace_hours: int = typer.Option(int(API_KEY_DEFAULT_ROTATION_GRACE.total_seconds() // 3600),
                                        help="hours the old key keeps working (0: revoked now; at most 168)"),
        days: int = typer.Option(API_KEY_DEFAULT_LIFETIME.days, help="days the new key is valid"),
    ):
        """Issue a new key and retire the old one after a grace period / 轮换 API 密钥."""
        from yikatong.auth.service import find_user, rotate_api_key

        key, new, old = _in_transaction(lambda uow: rotate_api_key(
            uow=uow, actor=_cli_actor(), user=find_user(uow=uow, username=username), key_id=key_id,
            grace=timedelta(hours=grace_hours), lifetime=timedelta(days=days)))
        until = old.revoked_at or old.expires_at
        console.print(f"key #{old.id} works until {until:%Y-%m-%d %H:%M} UTC; new key #{new.id} "
                      "(shown once) / 新密钥仅显示一次:")
        console.print(key, soft_wrap=True)

    @users.command("revoke-api-key")
    def revoke_api_key_command(username: str, key_id: int):
        """Revoke an API key at once / 吊销 API 密钥."""
        from yikatong.auth.service import find_user, revoke_api_key

        _in_transaction(lambda uow: revoke_api_key(
            uow=uow, actor=_cli_actor(), user=find_user(uow=uow, username=username), key_id=key_id))
        console.print(f"[green]✓[/green] API key #{key_id} of {username} revoked / 已吊销")


def _register_state_command(users, command: str, active: bool) -> None:
    @users.command(command)
    def state_command(username: str) -> None:
        from yikatong.auth.service import find_user, set_active

        revoked = _in_transaction(lambda uow: set_active(
            uow=uow, actor=_cli_actor(), user=find_user(uow=uow, username=username), active=active))
        console.print(f"[green]✓[/green] {username} {command}d; {revoked} credential(s) revoked / "
                      + ("已重新启用" if active else "已停用，其令牌和 API 密钥已失效"))

    state_command.__doc__ = ("Reactivate a login (it logs in again) / 重新启用账号" if active else
                             "Deactivate a login: its tokens and API keys stop at once / 停用账号")

