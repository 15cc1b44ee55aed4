"""What the medical insurance domain refuses, with stable codes (zh + en). No message carries a
full ID number, a card's full number beside a name, or an institution's secret.

`national_code` is the error's code on the national interface's `infcode`/`err_msg` answer
where one is customary (the interface door maps it; -1 = a general refusal)."""

from __future__ import annotations

from typing import ClassVar

from yikatong.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class MedicalError(DomainError):
    national_code: ClassVar[int] = -1


# --- enrolment, persons, credentials ------------------------------------------------------


class NotEnrolled(MedicalError, Conflict):
    """待遇检查 (2001): not insured on the day."""

    code = "medical_not_enrolled"
    zh = "该人员 {day} 未参加基本医疗保险（待遇检查未通过）"
    en = "The person is not enrolled in basic medical insurance on {day} (benefit check failed)"


class InsuredNotFound(MedicalError, NotFound):
    code = "medical_person_not_found"
    zh = "未找到该参保人员（{cert_type_zh}）"
    en = "No insured person with this credential ({cert_type_en})"


class UnknownCertType(MedicalError, InvalidInput):
    code = "medical_cert_type"
    zh = "就诊凭证类型 {cert_type} 无效：01 医保电子凭证、02 居民身份证、03 社会保障卡"
    en = "Credential type {cert_type} is invalid: 01 e-voucher, 02 ID card, 03 social security card"


class CredentialRefused(MedicalError, Conflict):
    """The credential may not be used now; the person may still use another (01 / 02)."""

    code = "medical_credential_refused"
    zh = "该就诊凭证不能使用：{reason_zh}；可改用医保电子凭证或身份证"
    en = "This credential cannot be used: {reason_en}; the e-voucher or ID card can be used instead"


class CredentialOfAnotherPerson(MedicalError, Conflict):
    code = "medical_credential_person_mismatch"
    zh = "就诊凭证与本次就诊的参保人不一致"
    en = "The credential belongs to another person than this visit's"


class InvalidEnrolment(MedicalError, InvalidInput):
    code = "medical_invalid_enrolment"
    zh = "参保信息有误：{reason_zh}"
    en = "Invalid enrolment: {reason_en}"


class EnrolmentOverlap(MedicalError, Conflict):
    code = "medical_enrolment_overlap"
    zh = "参保期间与 {start} 起的已有期间重叠"
    en = "The enrolment period overlaps the existing period starting {start}"


class NoOpenEnrolment(MedicalError, Conflict):
    code = "medical_no_open_enrolment"
    zh = "该人员没有未终止的参保期间"
    en = "The person has no open enrolment period"


class InvalidCredit(MedicalError, InvalidInput):
    code = "medical_invalid_credit"
    zh = "个人账户划入金额须为正整数（分）"
    en = "A personal-account credit must be a positive integer number of fen"


# --- institutions ---------------------------------------------------------------------------


class InstitutionNotFound(MedicalError, NotFound):
    code = "medical_institution_not_found"
    zh = "未找到定点医药机构 {code}"
    en = "Designated institution {code} not found"


class InstitutionExists(MedicalError, Conflict):
    code = "medical_institution_exists"
    zh = "定点医药机构 {code} 已存在"
    en = "Designated institution {code} already exists"


class InvalidInstitution(MedicalError, InvalidInput):
    code = "medical_invalid_institution"
    zh = "定点医药机构信息有误：{reason_zh}"
    en = "Invalid institution: {reason_en}"


class InstitutionInactive(MedicalError, Forbidden):
    code = "medical_institution_inactive"
    zh = "定点医药机构 {code} 已暂停医保结算"
    en = "Designated institution {code} is suspended from insurance settlement"


class NoInstitutionSecret(MedicalError, Conflict):
    code = "medical_institution_no_secret"
    zh = "定点医药机构 {code} 尚未签发接口密钥"
    en = "No interface secret has been issued to institution {code}"


class NotAnInstitution(MedicalError, Forbidden):
    code = "medical_not_an_institution"
    zh = "只有定点医药机构可以办理医保就诊结算"
    en = "Only a designated institution may do visits and settlements"


class NotMedicalOffice(MedicalError, Forbidden):
    code = "medical_not_office"
    zh = "只有医保经办机构可以办理此业务"
    en = "Only the medical insurance office may do this"


# --- catalogue -----------------------------------------------------------------------------


class UnknownCatalogueCode(MedicalError, InvalidInput):
    code = "medical_unknown_catalogue_code"
    zh = "医保目录（{version}）中没有编码 {item_code}"
    en = "Code {item_code} is not in the medical insurance catalogue ({version})"


class NoCatalogueInForce(MedicalError, Conflict):
    code = "medical_no_catalogue"
    zh = "{day} 没有生效的医保目录"
    en = "No medical insurance catalogue is in force on {day}"


class CatalogueInvalid(MedicalError):
    code = "medical_catalogue_invalid"
    http_status = 500
    zh = "医保目录 {origin} 有误：{problems}"
    en = "The catalogue {origin} is invalid: {problems}"


# --- disease filings -----------------------------------------------------------------------


class FilingNotFound(MedicalError, NotFound):
    code = "medical_filing_not_found"
    zh = "未找到慢特病备案 {filing_no}"
    en = "Chronic/special disease filing {filing_no} not found"


class InvalidFiling(MedicalError, InvalidInput):
    code = "medical_invalid_filing"
    zh = "慢特病备案信息有误：{reason_zh}"
    en = "Invalid disease filing: {reason_en}"


class FilingAlreadyRevoked(MedicalError, Conflict):
    code = "medical_filing_revoked"
    zh = "慢特病备案 {filing_no} 已撤销"
    en = "Disease filing {filing_no} is already revoked"


# --- visits and settlements -----------------------------------------------------------------


class VisitNotFound(MedicalError, NotFound):
    """Also what another institution's visit reads as (no existence leak)."""

    code = "medical_visit_not_found"
    zh = "未找到就诊 {mdtrt_id}"
    en = "Visit {mdtrt_id} not found"


class VisitNotOpen(MedicalError, Conflict):
    code = "medical_visit_state"
    zh = "就诊 {mdtrt_id} 当前为“{state}”，不能{action_zh}"
    en = "Visit {mdtrt_id} is {state}; it cannot be {action_en}"


class InvalidMedType(MedicalError, InvalidInput):
    code = "medical_med_type"
    zh = "医疗类别 {med_type} 不适用于此业务"
    en = "Medical type {med_type} does not fit this transaction"


class InvalidFeeLine(MedicalError, InvalidInput):
    code = "medical_invalid_fee_line"
    zh = "费用明细 {feedetl_sn} 有误：{reason_zh}"
    en = "Fee line {feedetl_sn} is invalid: {reason_en}"


class DuplicateFeeLine(MedicalError, Conflict):
    code = "medical_duplicate_fee_line"
    zh = "费用明细流水号 {feedetl_sn} 已上传"
    en = "Fee line {feedetl_sn} was already uploaded"


class NothingToSettle(MedicalError, Conflict):
    code = "medical_nothing_to_settle"
    zh = "就诊 {mdtrt_id} 没有待结算的费用明细"
    en = "Visit {mdtrt_id} has no fee lines to settle"


class SumMismatch(MedicalError, Conflict):
    code = "medical_sum_mismatch"
    zh = "医疗费总额不一致：机构 {given} 分，平台 {computed} 分"
    en = "The total differs: the institution says {given} fen, the platform {computed} fen"


class SettlementNotFound(MedicalError, NotFound):
    code = "medical_settlement_not_found"
    zh = "未找到结算 {setl_id}"
    en = "Settlement {setl_id} not found"


class SettlementCancelled(MedicalError, Conflict):
    code = "medical_settlement_cancelled"
    zh = "结算 {setl_id} 已撤销"
    en = "Settlement {setl_id} is already cancelled"


# --- messages ------------------------------------------------------------------------------


class InvalidMsgid(MedicalError, InvalidInput):
    code = "medical_invalid_msgid"
    zh = "报文ID须为 1–30 个字符"
    en = "A msgid must be 1–30 characters"


class MsgidReused(MedicalError, Conflict):
    code = "medical_msgid_reused"
    zh = "报文ID {msgid} 已用于另一笔交易（{infno}）"
    en = "msgid {msgid} was already used for another request ({infno})"


class MessageReversed(MedicalError, Conflict):
    code = "medical_message_reversed"
    zh = "报文 {msgid} 已被冲正，不再受理"
    en = "Message {msgid} was reversed; it is not accepted any more"


class CannotReverse(MedicalError, Conflict):
    code = "medical_cannot_reverse"
    zh = "交易 {oinfno} 不能冲正：{reason_zh}"
    en = "Transaction {oinfno} cannot be reversed: {reason_en}"
