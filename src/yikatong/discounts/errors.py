"""Errors of the discounts domain: each refusal has a stable code and zh + en message, and
changes nothing."""

from __future__ import annotations

from yikatong.core.errors import Conflict, InvalidInput, NotFound


class CampaignNotFound(NotFound):
    code = "campaign_not_found"
    zh = "未找到该优惠活动"
    en = "Campaign not found"

    def __init__(self, **details) -> None:
        super().__init__(what="campaign", **details)


class SpendNotFound(NotFound):
    code = "discount_redemption_not_found"
    zh = "未找到该优惠核销记录"
    en = "Redemption not found"

    def __init__(self, **details) -> None:
        super().__init__(what="redemption", **details)


class VoucherNotFound(NotFound):
    code = "voucher_not_found"
    zh = "未找到该抵扣券"
    en = "Voucher not found"

    def __init__(self, **details) -> None:
        super().__init__(what="voucher", **details)


class SettlementNotFound(NotFound):
    code = "discount_settlement_not_found"
    zh = "未找到该结算单"
    en = "Settlement statement not found"

    def __init__(self, **details) -> None:
        super().__init__(what="settlement", **details)


class CampaignExists(Conflict):
    code = "campaign_exists"
    zh = "活动编号 {code} 已被另一活动使用"
    en = "Campaign code {code} is already used by another campaign"


class CampaignNotActive(Conflict):
    code = "campaign_not_active"
    zh = "该优惠活动未在进行中（{status}）"
    en = "The campaign is not running ({status})"


class BudgetExhausted(Conflict):
    code = "campaign_budget_exhausted"
    zh = "优惠活动预算已用完（剩余 {left_fen} 分）"
    en = "The campaign's budget is used up ({left_fen} fen left)"


class HolderLimitReached(Conflict):
    code = "campaign_holder_limit_reached"
    zh = "您已达到本活动的参与上限"
    en = "You have reached this campaign's limit per holder"


class NotEligible(Conflict):
    code = "campaign_not_eligible"
    zh = "不符合本活动的参与条件：{reason_zh}"
    en = "Not eligible for this campaign: {reason_en}"


class BelowThreshold(Conflict):
    code = "campaign_below_threshold"
    zh = "订单金额未达到满减门槛（满 {threshold_yuan} 元）"
    en = "The order does not reach the threshold ({threshold_yuan} CNY)"


class MerchantNotEnrolled(Conflict):
    code = "merchant_not_enrolled"
    zh = "该商户未参加本活动"
    en = "This merchant is not enrolled in the campaign"


class WrongKind(Conflict):
    code = "campaign_wrong_kind"
    zh = "该活动不是{kind_zh}"
    en = "The campaign is not a {kind_en}"


class AlreadyReversed(Conflict):
    code = "discount_already_reversed"
    zh = "该优惠已冲正"
    en = "The discount was already reversed"


class VoucherUnusable(Conflict):
    code = "voucher_unusable"
    zh = "该抵扣券不可用：{reason_zh}"
    en = "The voucher cannot be used: {reason_en}"


class AlreadySettled(Conflict):
    code = "discount_already_settled"
    zh = "该期间已出结算单"
    en = "A statement was already made for that period"


class NoLiveCard(Conflict):
    code = "discount_no_live_card"
    zh = "该卡不可用"
    en = "The card is not usable"


class CampaignInvalid(InvalidInput):
    code = "campaign_invalid"
