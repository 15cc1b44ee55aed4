"""`ykt user add` and `ykt user api-key`: staff and partner logins for the card centre."""

from __future__ import annotations

import getpass

import typer
from rich.console import Console

console = Console()


def register(group) -> None:
    users = group("user")

    @users.command("add")
    def add_command(
        username: str,
        role: str = typer.Option(..., help="e.g. ss_outlet_operator, bank, transit_operator"),
        bank: str = typer.Option(None, help="bank code for a bank login, e.g. CCB"),
        branch: str = typer.Option(None, help="branch, outlet or operator code"),
        name: str = typer.Option(None, help="display name"),
        no_password: bool = typer.Option(False, help="a partner system that uses API keys only"),
    ) -> None:
        """Add a staff or partner login / 新增工作人员或合作方账号."""
        from yikatong.auth.service import add_operator
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.actor import Actor
        from yikatong.core.errors import DomainError

        password = None if no_password else getpass.getpass("password / 密码: ")
        try:
            with platform().uow() as uow:
                add_operator(uow=uow, actor=Actor.system(f"cli:{getpass.getuser()}"),
                             username=username, password=password, role=role,
                             display_name=name, bank_code=bank, branch_code=branch)
                uow.commit()
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] {username} ({role}) added / 已新增")

    @users.command("api-key")
    def api_key_command(username: str, label: str = typer.Option(..., help="what the key is for")):
        """Issue an API key for a partner system (shown once) / 签发 API 密钥（仅显示一次）."""
        from yikatong.auth.service import create_api_key, find_user
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.actor import Actor
        from yikatong.core.errors import DomainError

        try:
            with platform().uow() as uow:
                key = create_api_key(uow=uow, user=find_user(uow=uow, username=username),
                                     label=label, actor=Actor.system(f"cli:{getpass.getuser()}"))
                uow.commit()
        except DomainError as error:
            fail(error)
        console.print("API key (shown once; send it as the X-API-Key header) / 仅显示一次:")
        console.print(key, soft_wrap=True)
