"""Errors of the database operations: backup, restore, partition archiving (docs/production.md)."""

from __future__ import annotations

from yikatong.core.errors import Conflict, DomainError


class BackupToolMissing(DomainError):
    code = "backup_tool_missing"
    http_status = 500
    zh = "找不到可用于 PostgreSQL {server} 的 {tool}（需版本 ≥ {server}）：请安装 postgresql-client 或设置 YKT_PG_BIN"
    en = ("No {tool} usable with PostgreSQL {server} (version {server} or newer needed): install "
          "postgresql-client or set YKT_PG_BIN")


class BackupToolFailed(DomainError):
    code = "backup_tool_failed"
    http_status = 500
    zh = "{tool} 失败（退出码 {status}）：{output}"
    en = "{tool} failed (exit status {status}): {output}"


class BackupChecksumMismatch(DomainError):
    http_status = 422
    code = "backup_checksum_mismatch"
    zh = "备份文件与其清单不符（{what}）：文件已损坏或被改动，拒绝恢复"
    en = "The backup file does not match its manifest ({what}): damaged or altered, not restored"


class BackupManifestMissing(DomainError):
    http_status = 422
    code = "backup_manifest_missing"
    zh = "缺少备份清单 {manifest}（含校验和），拒绝恢复"
    en = "The backup's manifest {manifest} (with its checksums) is missing: not restored"


class BackupEngineMismatch(DomainError):
    http_status = 422
    code = "backup_engine_mismatch"
    zh = "备份来自 {made_on}，不能恢复到 {target}"
    en = "The backup was made on {made_on} and cannot be restored into {target}"


class RestoreTargetNotEmpty(Conflict):
    code = "restore_target_not_empty"
    zh = "目标数据库已有 {tables} 张表，拒绝覆盖；确需覆盖请加 --replace"
    en = "The target database already holds {tables} tables: not overwritten (--replace to overwrite)"


class RestoredCountsDiffer(DomainError):
    code = "restored_counts_differ"
    http_status = 500
    zh = "恢复后的行数与备份清单不符：{tables}"
    en = "Row counts after the restore differ from the backup's manifest: {tables}"


class ArchivingInProgress(Conflict):
    code = "archiving_in_progress"
    zh = "另一进程正在归档过期分区，请稍后再试"
    en = "Another process is archiving the months past their retention; try again later"
