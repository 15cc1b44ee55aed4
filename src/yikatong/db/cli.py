"""`ykt db upgrade`: apply migrations to the configured database."""

from __future__ import annotations

import typer
from rich.console import Console

console = Console()


def register(group) -> None:
    db = group("db")

    @db.command("upgrade")
    def upgrade_command() -> None:
        """Apply all migrations / 升级数据库结构."""
        from yikatong.cli.context import platform
        from yikatong.db.migrate import upgrade

        plat = platform()
        upgrade(plat.engine)
        console.print(f"[green]✓[/green] database at head: {plat.engine.url.render_as_string()}")

    @db.command("check")
    def check_command() -> None:
        """Exit non-zero if the models and the migrated schema differ."""
        from yikatong.cli.context import platform
        from yikatong.db.migrate import pending_differences

        differences = pending_differences(platform().engine)
        for difference in differences:
            console.print(str(difference))
        raise typer.Exit(1 if differences else 0)
