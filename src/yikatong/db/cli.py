"""`ykt db upgrade`: apply migrations to the configured database; `ykt db backup` /
`ykt db restore` (db.backup)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

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

    @db.command("backup")
    def backup_command(
        path: Path = typer.Argument(..., dir_okay=False, help="the backup file to write"),
        database_url: str = typer.Option(None, "--database-url", help="another database than "
                                         "YKT_DATABASE_URL's (e.g. the reference bank's)"),
    ) -> None:
        """Back the database up to PATH (+ PATH.manifest.json) / 备份数据库."""
        from yikatong.core.clock import SystemClock
        from yikatong.db import backup

        url = _url(database_url)
        with _bars() as progress:
            manifest = _domain(lambda: backup.backup(url, path, now=SystemClock().now(), progress=progress))
        console.print(f"[green]✓[/green] {path}: {manifest.size} bytes, {len(manifest.tables)} tables, "
                      f"{sum(manifest.tables.values())} rows, {manifest.tool}")
        console.print(f"  SM3 {manifest.sm3}\n  SHA-256 {manifest.sha256}\n"
                      f"  manifest / 清单: {backup.manifest_path(path)} / 备份完成")

    @db.command("restore")
    def restore_command(
        path: Path = typer.Argument(..., exists=True, dir_okay=False, help="a file of `ykt db backup`"),
        database_url: str = typer.Option(None, "--database-url", help="another database than "
                                         "YKT_DATABASE_URL's"),
        replace: bool = typer.Option(False, "--replace", help="restore over a database that already "
                                     "holds tables (its tables of the backup are dropped first) / 覆盖已有数据"),
    ) -> None:
        """Restore a backup into an empty database, checking its checksums first and the row
        counts after / 从备份恢复数据库."""
        from yikatong.db import backup

        url = _url(database_url)
        with _bars() as progress:
            restored = _domain(lambda: backup.restore(url, path, replace=replace, progress=progress))
        manifest = restored.manifest
        console.print(f"[green]✓[/green] restored / 已恢复 {path} (made {manifest.made_at}, revision "
                      f"{manifest.revision or '-'}): {len(restored.tables)} tables, "
                      f"{sum(restored.tables.values())} rows, every count as in the manifest / 行数与清单一致")

    @db.command("check-backup")
    def check_backup_command(path: Path = typer.Argument(..., dir_okay=False)) -> None:
        """Check a backup file against its manifest (size, SHA-256, SM3) / 校验备份文件."""
        from yikatong.db import backup

        with _bars() as progress:
            manifest = _domain(lambda: backup.check_backup(path, progress))
        console.print(f"[green]✓[/green] {path} matches its manifest / 与清单一致: {manifest.engine}, "
                      f"made {manifest.made_at}, SM3 {manifest.sm3}")

    @db.command("archive")
    def archive_command(
        to: Path = typer.Option(None, "--to", file_okay=False, help="the archive directory "
                                "(default: YKT_ARCHIVE_DIR)"),
    ) -> None:
        """Archive and drop the months of the partitioned tables past their retention
        (PostgreSQL; db/config/retention.toml) / 归档过期分区."""
        from yikatong.cli.context import platform
        from yikatong.db.archive import archive_old_months
        from yikatong.db.jobs import make_coming_months

        plat = platform()
        directory = to or (Path(plat.settings.archive_dir) if plat.settings.archive_dir else None)
        if directory is None:
            console.print("[red]✗[/red] --to DIR or YKT_ARCHIVE_DIR / 请指定归档目录")
            raise typer.Exit(2)
        if plat.engine.dialect.name != "postgresql":
            console.print("SQLite keeps plain tables: nothing to archive / SQLite 不分区，无需归档")
            return
        make_coming_months(plat)
        with _bars() as progress:
            outcomes = _domain(lambda: archive_old_months(plat, directory=directory, progress=progress))
        for outcome in outcomes:
            if outcome.archived:
                checkpoint = f", audit checkpoint {outcome.audit_checkpoint}" if outcome.audit_checkpoint else ""
                console.print(f"[green]✓[/green] {outcome.partition}: {outcome.rows} rows → {outcome.file} "
                              f"(SM3 {outcome.sm3}{checkpoint}) / 已归档")
            else:
                console.print(f"[yellow]•[/yellow] {outcome.partition} kept / 保留: {outcome.reason}")
        if not outcomes:
            console.print("no month past its retention / 没有超过保留期的分区")


def _url(database_url: str | None) -> str:
    from yikatong.core.settings import Settings

    return database_url or Settings.from_env().database_url


@contextmanager
def _bars():
    """Rich progress bars for the stages of a backup or restore."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from yikatong.cli.progress import RichStages

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
               TimeElapsedColumn())
    with Progress(*columns, console=console) as bars:
        yield RichStages(bars)


def _domain(work):
    from yikatong.cli.main import fail
    from yikatong.core.errors import DomainError

    try:
        return work()
    except DomainError as error:
        fail(error)
