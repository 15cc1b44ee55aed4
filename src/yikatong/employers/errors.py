"""Errors of the employers domain: each refusal has a stable code and zh + en message."""

from __future__ import annotations

from yikatong.core.errors import Conflict, DomainError, NotFound


class EmployerUsccRequired(DomainError):
    code = "employer_uscc_required"
    http_status = 422
    zh = "单位经办人账号须填写所属单位的统一社会信用代码"
    en = "An employer agent's login needs its employer's unified social credit code"


class EmployerUsccMisplaced(DomainError):
    code = "employer_uscc_misplaced"
    http_status = 422
    zh = "只有单位经办人账号可以填写统一社会信用代码（当前角色：{role}）"
    en = "Only an employer agent's login carries a unified social credit code (role: {role})"


class BatchForAnotherEmployer(DomainError):
    code = "batch_for_another_employer"
    http_status = 403
    zh = "单位经办人只能为本单位（{employer_uscc}）提交批量申请"
    en = "An employer agent submits batches for their own employer ({employer_uscc}) only"


class EmployeeLinkNotFound(NotFound):
    code = "employee_link_not_found"
    zh = "未找到单位与员工的关联记录"
    en = "Employee link not found"

    def __init__(self, **details) -> None:
        super().__init__(what="employee link", **details)


class EmployeeLinkEnded(Conflict):
    code = "employee_link_ended"
    zh = "该关联已于 {ended_at} 终止"
    en = "This link already ended at {ended_at}"
