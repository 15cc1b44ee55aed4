"""Errors of the bills domain: each refusal has a stable code and zh + en message, and changes
nothing."""

from __future__ import annotations

from yikatong.core.errors import Conflict, DomainError, InvalidInput, NotFound


class BillsConfigInvalid(DomainError):
    code = "bills_config_invalid"
    http_status = 500
    zh = "缴费参数文件 {origin} 有误：{problems}"
    en = "The payments figures file {origin} is invalid: {problems}"


class BillNotFound(NotFound):
    code = "bill_not_found"
    zh = "未找到该账单"
    en = "Bill not found"

    def __init__(self, **details) -> None:
        super().__init__(what="bill", **details)


class PaymentNotFound(NotFound):
    code = "bill_payment_not_found"
    zh = "未找到该缴费记录"
    en = "Payment not found"

    def __init__(self, **details) -> None:
        super().__init__(what="payment", **details)


class MandateNotFound(NotFound):
    code = "bill_mandate_not_found"
    zh = "未找到该代扣授权"
    en = "Standing mandate not found"

    def __init__(self, **details) -> None:
        super().__init__(what="mandate", **details)


class ExamNotFound(NotFound):
    code = "exam_not_found"
    zh = "未找到该考试"
    en = "Exam not found"

    def __init__(self, **details) -> None:
        super().__init__(what="exam", **details)


class UnknownPayee(InvalidInput):
    code = "bill_unknown_payee"
    zh = "未知的收费单位：{payee_code}"
    en = "Unknown payee: {payee_code}"


class BaseOutOfRange(InvalidInput):
    code = "contribution_base_out_of_range"
    zh = "缴费基数须在 {low_yuan} 元至 {high_yuan} 元之间（社平工资的 60%–300%）"
    en = "The contribution base must be between {low_yuan} and {high_yuan} CNY (60–300% of the average wage)"


class MonthsNotAllowed(InvalidInput):
    code = "contribution_months_not_allowed"
    zh = "灵活就业缴费可按月或按年缴纳（{allowed} 个月）"
    en = "Flexible-employment contributions are paid monthly or yearly ({allowed} months)"


class GradeNotAllowed(InvalidInput):
    code = "pension_grade_not_allowed"
    zh = "请选择规定的缴费档次"
    en = "Choose one of the contribution grades"


class SubjectsInvalid(InvalidInput):
    code = "exam_subjects_invalid"
    zh = "请选择本次考试的科目（1 至 {count} 科，不可重复）"
    en = "Choose the exam's subjects (1 to {count}, no repeats)"


class AlreadyDue(Conflict):
    code = "bill_already_issued"
    zh = "该期费用已生成账单"
    en = "A bill for this period already exists"


class BillNotPayable(Conflict):
    code = "bill_not_payable"
    zh = "该账单当前不可缴纳（状态：{status}）"
    en = "This bill cannot be paid now (status: {status})"


class ConfirmationRequired(InvalidInput):
    code = "bill_confirmation_required"
    zh = "请确认由本人社保卡银行账户支付"
    en = "Confirm that the card's bank account pays"


class NoLiveCard(Conflict):
    code = "bill_no_live_card"
    zh = "未找到在用的社会保障卡，无法从卡内银行账户缴费"
    en = "There is no card in use whose bank account could pay"


class AccountRefused(DomainError):
    """The card's bank refused the payment: the reason code says why (not activated, not
    enough money, lost, closed)."""

    code = "bill_account_refused"
    http_status = 409
    zh = "银行拒绝扣款：{reason_zh}"
    en = "The bank refused the payment: {reason_en}"


class AccountNotActivated(AccountRefused):
    code = "bill_account_not_activated"
    zh = "社保卡银行账户尚未激活，请先到开户银行网点激活"
    en = "The card's bank account is not activated yet; activate it at a branch of the card's bank"


class InsufficientFunds(AccountRefused):
    code = "bill_insufficient_funds"
    zh = "社保卡银行账户余额不足"
    en = "Not enough money on the card's bank account"


class CardLost(AccountRefused):
    code = "bill_card_lost"
    zh = "社保卡已挂失，不能从卡内账户支付"
    en = "The card is reported lost; its account cannot pay"


class AccountClosed(AccountRefused):
    code = "bill_account_closed"
    zh = "社保卡银行账户已销户"
    en = "The card's bank account is closed"


class NotRefundable(Conflict):
    code = "bill_not_refundable"
    zh = "该笔缴费不可退款（状态：{status}）"
    en = "This payment cannot be refunded (status: {status})"


class MandateExists(Conflict):
    code = "bill_mandate_exists"
    zh = "已有该收费单位的代扣授权"
    en = "A standing mandate for this payee already exists"


class MandateRevoked(Conflict):
    code = "bill_mandate_revoked"
    zh = "该代扣授权已撤销"
    en = "This standing mandate is already revoked"


class MandateLimitExceeded(Conflict):
    code = "bill_mandate_limit_exceeded"
    zh = "账单金额超过代扣授权的单笔上限"
    en = "The bill is above the mandate's limit per payment"


class ExamCancelled(Conflict):
    code = "exam_cancelled"
    zh = "该考试已取消"
    en = "This exam is cancelled"


class EmployeeInsured(Conflict):
    code = "bill_medical_enrolment_conflict"
    zh = "您本年度已有其他医保参保登记（如职工医保），请到医保经办窗口办理"
    en = "You have another medical enrolment this year (an employee's, say); see the medical office"
