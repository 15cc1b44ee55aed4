"""What the HR services refuse, with stable codes (zh + en). No message carries a full ID
number or a card account number."""

from __future__ import annotations

from yikatong.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class HrError(DomainError):
    pass


class UnknownService(HrError, NotFound):
    code = "hr_unknown_service"
    zh = "没有这项人社服务：{service_code}"
    en = "There is no HR service {service_code}"


class NotOpenedThisWay(HrError, Forbidden):
    code = "hr_not_opened_this_way"
    zh = "“{service_zh}”不能{channel_zh}办理"
    en = "{service_en} cannot be opened {channel_en}"


class CardRefused(HrError, Conflict):
    """The credential (the card, or the e-card of the person whose card it is) may not open or
    carry a case."""

    code = "hr_card_refused"
    zh = "社会保障卡不能用于办理人社服务：{reason_zh}"
    en = "The social security card cannot be used for HR services: {reason_en}"


class NotBoundToPerson(HrError, Forbidden):
    code = "hr_login_not_bound"
    zh = "此登录尚未绑定持卡人，请先用社会保障卡或电子社保卡完成绑定"
    en = "This login is not bound to a card holder; bind it with the card or e-card first"


class EcardRefused(HrError, Conflict):
    code = "hr_ecard_refused"
    zh = "电子社保卡凭证无效：{reason_zh}"
    en = "The e-card credential is not valid: {reason_en}"


class CredentialOfAnotherPerson(HrError, Forbidden):
    code = "hr_credential_person_mismatch"
    zh = "出示的卡或电子社保卡不是本人的"
    en = "The card or e-card presented is not this person's"


class CaseNotFound(HrError, NotFound):
    code = "hr_case_not_found"
    zh = "未找到办件 {case_id}"
    en = "Case {case_id} not found"


class DocumentNotFound(HrError, NotFound):
    code = "hr_document_not_found"
    zh = "未找到材料 {document_id}"
    en = "Document {document_id} not found"


class StepNotAllowed(HrError, Conflict):
    code = "hr_step_not_allowed"
    zh = "办件当前为“{state_zh}”，不能{step_zh}"
    en = "The case is {state_en}: it cannot be {step_en}"


class DocumentRefused(HrError, InvalidInput):
    code = "hr_document_refused"
    zh = "材料不能接收：{reason_zh}"
    en = "The document cannot be accepted: {reason_en}"


class DocumentsMissing(HrError, Conflict):
    code = "hr_documents_missing"
    zh = "还缺少材料：{missing_zh}"
    en = "Documents still missing: {missing_en}"


class NotTheReviewer(HrError, Forbidden):
    code = "hr_not_the_reviewer"
    zh = "此办件由 {officer} 审核中"
    en = "This case is being reviewed by {officer}"


class NotHrOfficer(HrError, Forbidden):
    code = "hr_not_officer"
    zh = "只有人社经办人员可以办理此步骤"
    en = "Only an HR officer may take this step"


class NotAnOutlet(HrError, Forbidden):
    code = "hr_not_outlet"
    zh = "只有持卡人本人或服务网点可以办理此步骤"
    en = "Only the holder or an outlet may take this step"


class InvalidDecision(HrError, InvalidInput):
    code = "hr_invalid_decision"
    zh = "决定有误：{reason_zh}"
    en = "Invalid decision: {reason_en}"


class NotEntitled(HrError, Conflict):
    code = "hr_not_entitled"
    zh = "不符合待遇条件：{reason_zh}"
    en = "Not entitled: {reason_en}"


class NoCardAccount(HrError, NotFound):
    code = "hr_no_card_account"
    zh = "该人员没有在用的社会保障卡账户"
    en = "The person has no live card account"


class InvalidAccountRead(HrError, InvalidInput):
    code = "hr_invalid_account_read"
    zh = "读取卡账户须写明人员和用途：{reason_zh}"
    en = "A card account read names the person and its purpose: {reason_en}"
