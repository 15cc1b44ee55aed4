"""What clearing refuses, with stable codes (zh + en). A refused upload changes nothing."""

from __future__ import annotations

from yikatong.core.errors import Conflict, Forbidden, InvalidInput, NotFound


class BatchMalformed(InvalidInput):
    """A line of the file does not follow docs/clearing-batch-format.md."""

    code = "clearing_batch_malformed"
    zh = "清算文件第 {line} 行格式错误：{reason_zh}"
    en = "Clearing file line {line} is malformed: {reason_en}"


class BatchDigestMismatch(InvalidInput):
    code = "clearing_batch_digest"
    zh = "清算文件的 SM3 摘要不符（文件损坏或被截断），未处理"
    en = "The clearing file's SM3 digest does not match (damaged or truncated); nothing was processed"


class BatchCountMismatch(InvalidInput):
    code = "clearing_batch_counts"
    zh = "清算文件的笔数或金额合计与记录不符：{reason_zh}"
    en = "The clearing file's record count or totals do not match its records: {reason_en}"


class BatchTooLarge(InvalidInput):
    code = "clearing_batch_too_large"
    http_status = 413
    zh = "清算文件超过 {limit_mib} MiB，请分批上传"
    en = "The clearing file is larger than {limit_mib} MiB; split it into batches"


class BatchConflict(Conflict):
    code = "clearing_batch_conflict"
    zh = "批次 {batch_id} 已以不同内容上传过"
    en = "Batch {batch_id} was already uploaded with different content"


class BatchNotFound(NotFound):
    code = "clearing_batch_not_found"
    zh = "未找到清算批次"
    en = "Clearing batch not found"


class NotYourOperator(Forbidden):
    code = "clearing_not_your_operator"
    zh = "只能上传本运营单位（{operator}）的批次"
    en = "You may only upload batches of your own operator ({operator})"


class WrongFileKind(InvalidInput):
    code = "clearing_wrong_file_kind"
    zh = "此处不接受 {kind} 类文件（应为 {expected}）"
    en = "A {kind} file is not accepted here (expected {expected})"


class UnknownNationalFile(NotFound):
    code = "clearing_unknown_national_file"
    zh = "结果文件所答复的上送文件 {reference} 不存在"
    en = "The result file answers file {reference}, which was never sent"
