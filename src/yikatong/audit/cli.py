"""`ykt audit …`: make a checkpoint of the audit trail, verify the trail."""

from __future__ import annotations

import getpass
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()


def register(group) -> None:
    audit = group("audit")

    @audit.command("checkpoint")
    def checkpoint_command(
        export: Path = typer.Option(
            None, "--export", help="also write the newest checkpoint to this directory, outside the database"),
    ) -> None:
        """Sign the head of every audit chain now / 生成审计检查点."""
        from yikatong.audit import service
        from yikatong.audit.jobs import take_checkpoint
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        try:
            checkpoint = take_checkpoint(platform())
        except DomainError as error:
            fail(error)
        if export is not None:
            with platform().uow() as uow:
                newest = service.latest_checkpoint(uow=uow)
            if newest is not None:
                console.print(f"exported / 已导出: {service.export_checkpoint(newest, export)}")
        if checkpoint is None:
            console.print("nothing new since the last checkpoint / 自上个检查点以来无新记录")
            return
        console.print(
            f"[green]✓[/green] checkpoint {checkpoint.seq}: records up to id {checkpoint.upto_record_id}, "
            f"{checkpoint.chain_count} chains ({checkpoint.changed_count} changed), "
            f"hash {checkpoint.hash[:16]}…, signed by audit_signing v{checkpoint.key_version} / 检查点已生成"
        )

    @audit.command("verify")
    def verify_command(
        from_checkpoint: int = typer.Option(
            None, "--from", help="start at this checkpoint: records up to its heads may be archived "
                                 "(default: the checkpoint of the last archived month, if any)"),
        against: Path = typer.Option(
            None, "--against", help="an exported checkpoint (or a directory of them: the newest) "
                                    "the database must still hold unchanged"),
    ) -> None:
        """Verify the audit trail; exits 1 and names the first bad record on tampering / 核验审计记录."""
        from yikatong.audit.jobs import verify_and_record
        from yikatong.audit.service import archived_checkpoint, read_witness
        from yikatong.cli.context import platform
        from yikatong.cli.main import fail
        from yikatong.core.errors import DomainError

        if from_checkpoint is None:  # nothing archived: None, every chain from its first record
            with platform().uow(read_only=True) as uow:
                from_checkpoint = archived_checkpoint(uow=uow)
        try:
            report, verification = verify_and_record(
                platform(), from_checkpoint=from_checkpoint, triggered_by=f"cli:{getpass.getuser()}",
                witness=read_witness(against) if against is not None else None)
        except DomainError as error:
            fail(error)
        start = f"checkpoint {report.from_checkpoint}" if report.from_checkpoint else "each chain's first record"
        scope = (f"{report.records} records in {report.chains} chains from {start}, "
                 f"against checkpoints up to {report.to_checkpoint or '(none yet)'}")
        if report.ok:
            console.print(f"[green]✓[/green] audit trail intact: {scope} / 审计记录完整")
            return
        first = report.first_problem
        console.print(f"[red]✗ audit trail tampered[/red]: {len(report.problems)} problem(s) in {scope} "
                      f"(verification {verification.id}) / 审计记录被篡改")
        console.print(f"first bad record / 首条异常记录: {escape(first.where())}: "
                      f"{escape(first.message_en)} / {escape(first.message_zh)}")
        table = Table(title="problems / 异常 (first 20)")
        for column in ("where", "what"):
            table.add_column(column)
        for problem in sorted(report.problems, key=lambda p: p.order)[:20]:
            table.add_row(escape(problem.where()), escape(problem.message_en))
        console.print(table)
        raise typer.Exit(1)
