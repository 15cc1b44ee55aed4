"""What the benefits domain refuses, with stable codes (zh + en). No message carries a full
ID number or a full account number."""

from __future__ import annotations

from yikatong.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class BenefitsError(DomainError):
    pass


class ProgrammeNotFound(BenefitsError, NotFound):
    code = "benefits_programme_not_found"
    zh = "没有待遇项目 {programme}"
    en = "No benefit programme {programme}"


class NotYourProgramme(BenefitsError, Forbidden):
    code = "benefits_not_your_programme"
    zh = "待遇项目 {programme} 不由本发放机构发放"
    en = "Programme {programme} is not paid by this paying office"


class InvalidPeriod(BenefitsError, InvalidInput):
    code = "benefits_invalid_period"
    zh = "发放期须为 YYYY-MM（收到 {period}）"
    en = "A period must be YYYY-MM (got {period})"


class InvalidPayeeList(BenefitsError, InvalidInput):
    code = "benefits_invalid_payee_list"
    zh = "发放名单有误：{problems}"
    en = "The payee list is invalid: {problems}"


class PayeeListExists(BenefitsError, Conflict):
    code = "benefits_payee_list_exists"
    zh = "{programme} {period} 已有一份内容不同的发放名单"
    en = "{programme} {period} already has a payee list with other content"


class PayeeListMissing(BenefitsError, NotFound):
    code = "benefits_payee_list_missing"
    zh = "{programme} {period} 还没有发放名单"
    en = "{programme} {period} has no payee list yet"


class RunInProgress(BenefitsError, Conflict):
    code = "benefits_run_in_progress"
    zh = "{programme} {period} 的发放正在由另一操作进行，请稍后查看结果"
    en = "The {programme} {period} run is being paid by another request; look at its state later"


class RunNotFound(BenefitsError, NotFound):
    code = "benefits_run_not_found"
    zh = "没有这次发放"
    en = "No such disbursement run"


class InvalidEnrolment(BenefitsError, InvalidInput):
    code = "benefits_invalid_enrolment"
    zh = "待遇登记有误：{reason_zh}"
    en = "Invalid enrolment: {reason_en}"


class BadResultFile(BenefitsError, Conflict):
    code = "benefits_bad_result_file"
    zh = "银行结果文件 {batch_id} 与发放文件不符：{problem}"
    en = "The bank's result file for {batch_id} does not match the batch: {problem}"


class InvalidProgrammes(BenefitsError, InvalidInput):
    code = "benefits_invalid_programmes"
    zh = "待遇项目配置 {origin} 有误：{problems}"
    en = "The programme configuration {origin} is invalid: {problems}"
