"""Errors of the people domain: each refusal has its own stable code and zh + en message."""

from __future__ import annotations

from yikatong.core.choices import ChoiceRefused
from yikatong.core.errors import Conflict, DomainError, NotFound


class InvalidIdNumber(DomainError):
    code = "invalid_id_number"
    http_status = 422
    zh = "证件号码无效：{reason_zh}"
    en = "Invalid identity number: {reason_en}"


class IdNumberMismatch(DomainError):
    """Birth date or gender given for the applicant disagrees with the ID number."""

    code = "id_number_mismatch"
    http_status = 422
    zh = "{field_zh}与证件号码不一致"
    en = "The {field_en} does not agree with the identity number"


class UnknownDocumentType(ChoiceRefused):
    code = "unknown_document_type"
    zh = "不支持的证件类型“{document_type}”（可选：{allowed_zh}）"
    en = "Unsupported identity document type '{document_type}' (one of: {allowed_en})"


class DocumentExpired(DomainError):
    code = "document_expired"
    http_status = 422
    zh = "证件已过有效期（有效期至 {valid_until}）"
    en = "The identity document has expired (valid until {valid_until})"


class DocumentValidityMissing(DomainError):
    code = "document_validity_missing"
    http_status = 422
    zh = "请填写证件有效期（长期有效的身份证填 9999-12-31）"
    en = "The document's validity date is required (use 9999-12-31 for a long-term ID card)"


class HouseholdRegisterTooOld(DomainError):
    code = "household_register_age_limit"
    http_status = 422
    zh = "户口簿仅限不满十六周岁的申请人使用（申请人 {age} 周岁）"
    en = "A household register is accepted only for applicants under 16 (the applicant is {age})"


class HouseholdRegisterWithIdCard(DomainError):
    code = "household_register_id_card_exists"
    http_status = 422
    zh = "申请人已办理居民身份证，请使用身份证申领"
    en = "The applicant already has a resident ID card; apply with the ID card"


class DocumentForForeignersOnly(DomainError):
    code = "document_for_foreigners_only"
    http_status = 422
    zh = "护照或外国人永久居留身份证仅限外籍人员使用"
    en = "A passport or foreign permanent-residence ID is accepted from foreign nationals only"


class DocumentForResidentsOnly(DomainError):
    code = "document_for_hmt_residents_only"
    http_status = 422
    zh = "该证件仅限{region_zh}居民使用"
    en = "This document is accepted only from residents of {region_en}"


class DocumentForCitizensOnly(DomainError):
    code = "document_for_citizens_only"
    http_status = 422
    zh = "居民身份证、临时身份证和户口簿仅限中国内地居民使用"
    en = "Resident ID cards, temporary ID cards and household registers are for mainland citizens"


class DocumentNumberKindMismatch(DomainError):
    code = "document_number_kind_mismatch"
    http_status = 422
    zh = "证件号码不是{expected_zh}的号码"
    en = "The number is not a valid {expected_en} number"


class PhotoRequired(DomainError):
    code = "photo_required"
    http_status = 422
    zh = "满 7 周岁的申请人须提供电子照片"
    en = "Applicants aged 7 or more must provide a digital photo"


class PhotoRejected(DomainError):
    """Every failing photo rule at once: details["failures"] lists code, zh and en."""

    code = "photo_rejected"
    http_status = 422
    zh = "照片不符合要求：{summary_zh}"
    en = "The photo does not meet the requirements: {summary_en}"


class InvalidPersonData(DomainError):
    code = "invalid_person_data"
    http_status = 422
    zh = "人员信息有误：{reason_zh}"
    en = "Invalid person data: {reason_en}"


class PersonNotFound(NotFound):
    code = "person_not_found"
    zh = "未找到该人员"
    en = "Person not found"

    def __init__(self, **details) -> None:
        super().__init__(what="person", **details)


class SsnTaken(Conflict):
    code = "ssn_taken"
    zh = "该社会保障号码已属于另一人员"
    en = "This social security number already belongs to another person"


class DocumentTaken(Conflict):
    code = "document_taken"
    zh = "该证件已登记在另一人员名下"
    en = "This identity document is already recorded for another person"


class ReviewNotFound(NotFound):
    code = "review_not_found"
    zh = "未找到该人工审核记录"
    en = "Manual review not found"

    def __init__(self, **details) -> None:
        super().__init__(what="review", **details)


class ReviewAlreadyResolved(Conflict):
    code = "review_already_resolved"
    zh = "该人工审核已处理"
    en = "This manual review has already been resolved"


class ReviewAwaitingApproval(Conflict):
    code = "review_awaiting_approval"
    zh = "该人工审核的合并结论正等待另一名经办人审批"
    en = "This manual review's merge is waiting for a second operator's approval"


class ReviewNotAwaitingApproval(Conflict):
    code = "review_not_awaiting_approval"
    zh = "该人工审核没有待审批的合并结论"
    en = "This manual review has no merge waiting for approval"


class NotAReviewCandidate(DomainError):
    """A review settles the applicant as one of its candidates or as a new person; it never
    attaches them to anybody else."""

    code = "not_a_review_candidate"
    http_status = 422
    zh = "只能合并到本次审核的候选人员（{allowed_person_ids}），或认定为新人员"
    en = "Merge only into this review's candidates ({allowed_person_ids}) or create a new person"


class CorrectionNotFound(NotFound):
    code = "correction_not_found"
    zh = "未找到该信息更正申请"
    en = "Correction not found"

    def __init__(self, **details) -> None:
        super().__init__(what="correction", **details)


class CorrectionAlreadyDecided(Conflict):
    code = "correction_already_decided"
    zh = "该信息更正申请已审批"
    en = "This correction has already been decided"


class CorrectionOutdated(Conflict):
    code = "correction_outdated"
    zh = "提出更正后人员信息已变更，请重新提出"
    en = "The person's data changed after the correction was proposed; propose it again"


class MakerCannotApprove(DomainError):
    code = "maker_cannot_approve"
    http_status = 403
    zh = "信息更正须由另一名经办人审核，提出人不能审批自己的申请"
    en = "A correction must be approved by a second operator, not by the one who proposed it"


class ReviewMakerCannotApprove(MakerCannotApprove):
    zh = "合并到已有人员须由另一名经办人审批，提出人不能审批自己的结论"
    en = "A merge into an existing person must be decided by a second operator, not its maker"


class NothingToCorrect(DomainError):
    code = "nothing_to_correct"
    http_status = 422
    zh = "更正内容与现有信息相同或为空"
    en = "The correction is empty or changes nothing"


class PhotoNotFound(NotFound):
    code = "photo_not_found"
    zh = "该人员尚无照片"
    en = "No photo is on file for this person"

    def __init__(self, **details) -> None:
        super().__init__(what="photo", **details)


class NoCardForPhoneChange(DomainError):
    code = "no_card_for_phone_change"
    http_status = 409
    zh = "没有可核验密码的卡片，请携带身份证到服务网点更换手机号"
    en = "There is no card whose PIN could be checked; change the phone number at an outlet with your ID card"


class PhotoMasked(DomainError):
    code = "photo_masked"
    http_status = 403
    zh = "您的岗位默认不显示照片；如确需查看，请说明理由申请查看完整信息"
    en = "Your post does not see photos by default; ask for a disclosure with a reason"


# --- guardians (people.guardians) -----------------------------------------------------------


class GuardianOutletOnly(DomainError):
    code = "guardian_outlet_only"
    http_status = 403
    zh = "监护关系须由社会保障卡服务网点经办人凭所出示的证件办理"
    en = "A guardian is linked or unlinked only by a social security card outlet's operator, on the documents shown there"


class ChildNotUnder16(DomainError):
    code = "child_not_under_16"
    http_status = 422
    zh = "被监护人须不满十六周岁（现年 {age} 周岁）；年满十六周岁后请本人办理"
    en = "The child must be under 16 (now {age}); from 16 the person acts for themself"


class GuardianNotAdult(DomainError):
    code = "guardian_not_adult"
    http_status = 422
    zh = "监护人须年满十八周岁（现年 {age} 周岁）"
    en = "The guardian must be 18 or older (now {age})"


class GuardianDocumentsMissing(DomainError):
    code = "guardian_documents_missing"
    http_status = 422
    zh = "请核验并勾选能证明监护关系的证件：{needed_zh}"
    en = "Check and tick a document that proves the guardianship: {needed_en}"


class GuardianAlreadyLinked(Conflict):
    code = "guardian_already_linked"
    zh = "该监护人已与此被监护人关联"
    en = "This guardian is already linked to this child"


class GuardianLinkNotFound(NotFound):
    code = "guardian_link_not_found"
    zh = "未找到该监护关系"
    en = "Guardian link not found"

    def __init__(self, **details) -> None:
        super().__init__(what="guardian link", **details)


class GuardianLinkEnded(Conflict):
    code = "guardian_link_ended"
    zh = "该监护关系已于 {ended_on} 解除"
    en = "This guardian link was ended on {ended_on}"
