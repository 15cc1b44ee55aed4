"""`ykt keys …`: create, list and rotate the issuer master keys. Never prints key bytes."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def register(group) -> None:
    keys = group("keys")

    @keys.command("init")
    def init_command(
        path: str = typer.Option(None, help="key store file (default Settings.key_store_path)"),
    ) -> None:
        """Create the key store with version 1 of every key / 初始化密钥库."""
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.core.settings import Settings
        from yikatong.crypto.keystore import FileKeyStore
        from yikatong.crypto.wiring import configured_kek

        settings = Settings.from_env()
        store_path = Path(path or settings.key_store_path)
        try:
            kek = configured_kek(settings)
            if kek is None and settings.is_production:
                from yikatong.crypto.errors import KeyStoreLocked

                raise KeyStoreLocked(reason_zh="生产环境须配置 YKT_KEK 或 YKT_KEK_FILE",
                                     reason_en="production needs YKT_KEK or YKT_KEK_FILE")
            if kek is None:
                kek = _dev_kek(store_path.parent / "kek")  # where wiring's development mode looks
            store = FileKeyStore.init(store_path, kek)
        except DomainError as error:
            fail(error)
        console.print(f"[green]✓[/green] key store {store_path}: {len(store.list())} keys / 密钥库已创建")

    @keys.command("list")
    def list_command() -> None:
        """List keys: purpose, algorithm, version, status, created, KCV / 列出密钥."""
        store = _store()
        table = Table(title="Master keys / 主密钥 (no key bytes, KCV only)")
        for column in ("purpose", "alg", "ver", "status", "created", "factors", "KCV"):
            table.add_column(column, no_wrap=True)
        for info in store.list():
            table.add_row(
                info.purpose,
                info.algorithm,
                str(info.version),
                info.status.value,
                info.created_at.strftime("%Y-%m-%d"),
                str(info.diversification),
                info.check_value,
            )
        console.print(table)

    @keys.command("rotate")
    def rotate_command(
        purpose: str,
        algorithm: str = typer.Option(None, "--algorithm", help="SM4, 3DES or SM2 (default: the purpose's first)"),
    ) -> None:
        """New version becomes active; the old one stays for verification / 密钥轮换."""
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        try:
            info = _store().rotate(purpose, algorithm)
        except DomainError as error:
            fail(error)
        _audit("keys.rotate", info)
        console.print(
            f"[green]✓[/green] {info.purpose} {info.algorithm}: version {info.version} active "
            f"(KCV {info.check_value}); older versions retired / 新版本已启用"
        )

    for status in ("retire", "revoke"):
        _register_status_command(keys, status)


def _register_status_command(keys, verb: str) -> None:
    status = {"retire": "retired", "revoke": "revoked"}[verb]

    @keys.command(verb)
    def status_command(
        purpose: str,
        version: int,
        algorithm: str = typer.Option(None, "--algorithm"),
    ) -> None:
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError
        from yikatong.crypto.keys import resolve_algorithm

        try:
            info = _store().set_status(purpose, resolve_algorithm(purpose, algorithm), version, status)
        except DomainError as error:
            fail(error)
        _audit(f"keys.{verb}", info)
        console.print(f"[green]✓[/green] {info.purpose} {info.algorithm} version {info.version}: {info.status.value}")

    status_command.__doc__ = (
        "Retire a version (no new cards; still verifies) / 停用密钥版本"
        if verb == "retire"
        else "Revoke a version (refused for everything) / 吊销密钥版本"
    )


def _audit(action: str, info) -> None:
    """Record a key-store change in the platform's audit trail (never key bytes: the KCV).
    The key store is a file, so this is a second step; if the database cannot be reached
    the operator is told to record the change by hand."""
    import getpass

    from yikatong.cli.context import platform
    from yikatong.core.actor import Actor, Channel, Role

    actor = Actor(user_id=f"cli:{getpass.getuser()}", role=Role.ADMIN, channel=Channel.SYSTEM)
    try:
        with platform().uow() as uow:
            uow.audit(actor=actor, action=action, entity_type="master_key",
                      entity_id=f"{info.purpose}:{info.algorithm}:{info.version}",
                      after={"status": info.status.value, "check_value": info.check_value})
            uow.commit()
    except Exception as error:  # the key change stands; its audit record must not be lost
        console.print(f"[red]![/red] could not write the audit record ({type(error).__name__}); "
                      "record this key change in the ceremony log by hand / 审计记录写入失败，请手工登记")


def _dev_kek(kek_path: Path) -> bytes:
    from yikatong.crypto.keystore import create_kek_file, read_kek_file

    if kek_path.exists():
        console.print(f"[yellow]![/yellow] no YKT_KEK / YKT_KEK_FILE: using the KEK file {kek_path}")
        return read_kek_file(kek_path)
    kek = create_kek_file(kek_path)
    console.print(
        f"[yellow]![/yellow] no YKT_KEK / YKT_KEK_FILE: created a KEK file {kek_path} (0600). "
        f"Keep it apart from the key store; set YKT_KEK_FILE={kek_path} to use it. "
        "/ 未配置密钥加密密钥，已生成 KEK 文件"
    )
    return kek


def _store():
    from yikatong.cli.main import fail
    from yikatong.core.errors import DomainError
    from yikatong.core.settings import Settings
    from yikatong.crypto.wiring import key_store_from_settings

    try:
        return key_store_from_settings(Settings.from_env())
    except DomainError as error:
        fail(error)
