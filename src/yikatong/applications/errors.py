"""Errors of the application flow, each with a stable code and zh-CN + en messages."""

from __future__ import annotations

from yikatong.core.choices import ChoiceRefused
from yikatong.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class ApplicationNotFound(NotFound):
    code = "application_not_found"
    zh = "未找到申请 {application_id}"
    en = "Application {application_id} not found"


class ProductionBatchNotFound(NotFound):
    code = "production_batch_not_found"
    zh = "未找到制卡批次 {batch_id}"
    en = "Production batch {batch_id} not found"


class IllegalTransition(Conflict):
    code = "illegal_application_transition"
    zh = "申请当前为“{current_zh}”，不能转为“{target_zh}”；下一步：{current_next_zh}"
    en = "The application is {current_en}; it cannot become {target_en}. Next: {current_next_en}"


class LiveCardExists(Conflict):
    code = "live_card_exists"
    zh = "省内一人一卡：该人员已有一张在用的社会保障卡"
    en = "One person, one card in the province: this person already holds a live card"


class OpenApplicationExists(Conflict):
    code = "open_application_exists"
    zh = "该人员已有一份正在办理的申请（{application_id}）"
    en = "This person already has an application in progress ({application_id})"


class ExchangeOnlyAtOutlet(DomainError):
    code = "exchange_only_at_outlet"
    http_status = 422
    zh = "换卡须到社会保障卡服务网点线下办理"
    en = "An exchange is done only at a social-security card service outlet"


class UnknownExchangeReason(ChoiceRefused, InvalidInput):
    code = "unknown_exchange_reason"
    zh = "换卡原因“{reason}”无效（可选：info_change 信息变更、damage 卡损坏、financial_expiry 金融功能到期）"
    en = "Unknown exchange reason '{reason}' (one of: {allowed_en})"


class ExchangeReasonWithoutExchange(InvalidInput):
    code = "exchange_reason_without_exchange"
    zh = "只有换卡申请才填写换卡原因"
    en = "Only an exchange application has an exchange reason"


class EmployerBatchNotFound(NotFound):
    code = "employer_batch_not_found"
    zh = "未找到单位批量申请 {batch_id}"
    en = "Employer batch {batch_id} not found"


class ProvincialCardHolderMustVisitOutlet(DomainError):
    code = "provincial_card_holder_outlet_only"
    http_status = 422
    zh = "已申领江苏省社会保障卡的人员，需通过线下服务渠道换领江苏（常州）一卡通"
    en = ("People who already hold a Jiangsu social security card exchange it for the "
          "Jiangsu (Changzhou) One Card at an outlet")


class OnlineFirstIssueOnly(DomainError):
    code = "online_first_issue_only"
    http_status = 422
    zh = "网上申领仅限首次申领且从未申领过江苏省社会保障卡的人员，请到服务网点办理"
    en = "Online application is only for a first card by someone who never had one; please visit an outlet"


class GoToOutlet(DomainError):
    """Real-name authentication or the base-data/photo lookup could not supply the data."""

    code = "online_data_unavailable"
    http_status = 422
    zh = "系统未能自动获取申请人基础信息和照片（{why_zh}），请到社会保障卡服务网点线下办理"
    en = ("The system could not fetch the applicant's base data and photo ({why_en}); "
          "please apply at a social-security card service outlet")


class DeliveryNotAllowed(DomainError):
    code = "delivery_not_allowed"
    http_status = 422
    zh = "递送方式“{delivery}”不适用于“{channel}”渠道（EMS 邮寄到付仅限网上申领且需填写邮寄地址；网点领取需选择网点）"
    en = ("Delivery '{delivery}' is not available for channel '{channel}' (EMS cash on delivery "
          "is for online applications with a mailing address; pickup needs an outlet)")


class PickupOutletNotAllowed(DomainError):
    code = "pickup_outlet_not_allowed"
    http_status = 422
    zh = "网点“{outlet_code}”不能发放该卡（请选择社会保障卡服务网点或所选合作银行的网点）"
    en = "Outlet '{outlet_code}' cannot hand out this card (choose a card service outlet or a branch of the chosen bank)"


class InvalidUscc(InvalidInput):
    code = "invalid_uscc"
    zh = "统一社会信用代码“{uscc}”无效：{why_zh}"
    en = "Unified social credit code '{uscc}' is invalid: {why_en}"


class MissingEmployerCredential(InvalidInput):
    code = "employer_credential_missing"
    zh = "单位办理需提供统一社会信用代码或申请单位授权委托书"
    en = "An employer batch needs a unified social credit code or a letter of authorisation"


class AgentDocumentsMissing(InvalidInput):
    code = "agent_documents_missing"
    zh = "代办须登记代办人姓名及有效身份证件"
    en = "An agent application records the agent's name and identity document"


class NotPickupApplication(Conflict):
    code = "not_pickup_application"
    zh = "该申请的递送方式不是“{expected_zh}”"
    en = "This application's delivery is not {expected_en}"


class FactoryUnavailable(DomainError):
    code = "card_factory_unavailable"
    http_status = 503
    zh = "制卡厂接口暂不可用，请稍后重试"
    en = "The card factory cannot be reached; try again later"


class NothingToProduce(Conflict):
    code = "nothing_to_produce"
    zh = "没有已审核待制卡的申请"
    en = "There are no approved applications waiting for production"


class CardNotProducedYet(Conflict):
    code = "card_not_produced"
    zh = "该申请的卡尚未制成"
    en = "The card of this application has not been produced yet"


class UnknownCard(NotFound):
    code = "card_not_found"
    zh = "未找到卡号 {card_no}"
    en = "Card {card_no} not found"


class NotTheReviewedPerson(DomainError):
    code = "not_the_reviewed_person"
    http_status = 422
    zh = "申请只能关联人工身份核验（{review_id}）确定的人员"
    en = "The application goes on only with the person the identity review ({review_id}) settled"


class IdentityReviewOpen(Conflict):
    code = "identity_review_open"
    zh = "人工身份核验（{review_id}）尚未完成"
    en = "The manual identity review ({review_id}) has not been resolved yet"


class NotYourIdentity(Forbidden):
    code = "online_application_not_own_identity"
    zh = "网上申领只能为登录账号实名认证的本人办理；代办请到服务网点"
    en = ("An online application is only for the logged-in holder's own, real-name authenticated "
          "identity; an agent applies at an outlet")
