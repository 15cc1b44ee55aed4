"""What the transit wallet refuses, with stable codes (zh + en). No message carries a key, a
MAC or a payer's full account."""

from __future__ import annotations

from yikatong.chip.protocols import CardRemoved
from yikatong.core.choices import ChoiceRefused
from yikatong.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class InvalidTopUpAmount(InvalidInput):
    code = "transit_top_up_amount"
    zh = "充值金额须为 {min_yuan}–{max_yuan} 元的整 {step_yuan} 元：{reason_zh}"
    en = "A top-up must be {min_yuan}–{max_yuan} CNY in steps of {step_yuan} CNY: {reason_en}"


class BalanceCapExceeded(Conflict):
    code = "transit_balance_cap"
    zh = "充值后卡内余额 {after_yuan} 元将超过上限 {cap_yuan} 元，未扣款"
    en = "The balance would be {after_yuan} CNY, above the {cap_yuan} CNY cap; nothing was charged"


class CardCounterExhausted(Conflict):
    code = "transit_card_counter_exhausted"
    zh = ("该卡交通钱包的充值序号已用尽（65535 次），不能再充值，未扣款（已付款的订单原路退款）；"
          "请到市民卡直营网点退还余额后换卡")
    en = ("The card's top-up counter is used up (65,535 loads): it cannot be topped up any more and "
          "nothing was charged (a paid order is refunded); have the balance refunded at a directly-run "
          "citizen-card outlet, then exchange the card")


class CardReadingRequired(Conflict):
    code = "transit_card_reading_required"
    zh = "请先读卡（{minutes} 分钟内的读卡结果）再下单充值"
    en = "Read the card first (a reading at most {minutes} minutes old) before ordering a top-up"


class TopUpPending(Conflict):
    code = "transit_top_up_pending"
    zh = "该卡有未完成的充值 {order_no}，请先放卡完成写卡"
    en = "Top-up {order_no} of this card is not finished; present the card to complete it first"


class TopUpNotFound(NotFound):
    code = "transit_top_up_not_found"
    zh = "未找到充值订单"
    en = "Top-up order not found"


class TopUpNotWritable(Conflict):
    code = "transit_top_up_not_writable"
    zh = "充值订单 {order_no} 当前为“{state_zh}”，不能写卡；下一步：{state_next_zh}"
    en = "Top-up order {order_no} is {state_en}; it cannot be written to a card. Next: {state_next_en}"


class TopUpNotWritten(CardRemoved):
    """The card left before the write finished: the paid order is kept (灰记录)."""

    code = "transit_top_up_not_written"
    zh = "写卡未完成（卡片离开），订单 {order_no} 已保留，下次在任一渠道放卡时自动完成"
    en = ("The write did not finish (the card left); order {order_no} is kept and completed at "
          "the card's next contact on any channel")


class TopUpNeedsReview(Conflict):
    code = "transit_top_up_needs_review"
    zh = "无法从卡片判断订单 {order_no} 是否已写入，已转人工核查"
    en = "The card does not show whether order {order_no} was written; it was passed to a person to check"


class WrongCardForOrder(Conflict):
    code = "transit_wrong_card"
    zh = "这张卡不是订单 {order_no} 的卡"
    en = "This is not the card of order {order_no}"


class ChannelNotForTopUp(Forbidden):
    code = "transit_channel_not_for_top_up"
    zh = "{role} 不能通过 {channel} 渠道充值"
    en = "A {role} cannot top up through the {channel} channel"


class PayerNotAccepted(InvalidInput):
    code = "transit_payer_not_accepted"
    zh = "{channel} 渠道不接受 {payer_kind} 付款"
    en = "The {channel} channel does not accept {payer_kind} payments"


class WalletClosed(Conflict):
    code = "transit_wallet_closed"
    zh = "该卡交通钱包已关闭（已退值或列入黑名单）"
    en = "The card's transit wallet is closed (refunded or on the deny list)"


class WalletExpired(Conflict):
    code = "transit_wallet_expired"
    zh = "该卡交通应用已于 {expires_on} 到期，公交地铁不再受理，不能充值；请到网点换卡"
    en = ("The card's transit application expired on {expires_on}: validators refuse it, so it "
          "takes no top-up; exchange the card at an outlet")


class RefundNotAtDirectOutlet(Forbidden):
    code = "transit_refund_not_at_direct_outlet"
    zh = "交通余额退值只能在市民卡直营网点办理（四.13），本网点不能办理"
    en = "A transit balance refund is done only at a directly-run citizen-card outlet (4.13); not here"


class UnreadableRefundNotAllowed(Forbidden):
    code = "transit_unreadable_refund_not_allowed"
    zh = "只有社会保障卡服务网点或市民卡直营网点可以登记无法读取的卡"
    en = "Only a social security card outlet or a directly-run citizen-card outlet can register an unreadable card"


class WalletRefundNotFound(NotFound):
    code = "transit_wallet_refund_not_found"
    zh = "未找到该卡的退值记录"
    en = "No wallet refund for this card"


class WalletBlockedElsewhere(Conflict):
    code = "transit_wallet_blocked_elsewhere"
    zh = "卡内交通钱包已锁定，但平台没有退值记录，请转人工处理"
    en = "The wallet is blocked on the card but the platform has no refund for it; refer to a person"


class CardNotRegistered(NotFound):
    code = "transit_card_not_registered"
    zh = "卡片应用序列号与卡号 {card_no} 的登记不符"
    en = "The card's application serial number does not match card {card_no}"


class ContactNotFound(NotFound):
    code = "transit_contact_not_found"
    zh = "未找到读卡会话"
    en = "Card contact session not found"


class ContactOutOfStep(Conflict):
    code = "transit_contact_out_of_step"
    zh = "读卡会话与卡片指令不同步，请重新放卡开始"
    en = "The card contact is out of step with its commands; start a new contact"


class DeviceTransmitError(DomainError):
    code = "transit_device_response_invalid"
    http_status = 422
    zh = "设备返回的卡片应答格式不正确"
    en = "The device's card response is malformed"


# --- rider categories set against a proof (grants.py) and rewrites the card refused (riders.py)


class RiderCategoryUnknown(ChoiceRefused, InvalidInput):
    code = "transit_rider_category_unknown"
    zh = "乘客类别“{category}”不是票价配置中可凭证明办理的类别（可办理：{allowed_zh}）"
    en = "'{category}' is not a rider category of the fares that is set against a proof (these are: {allowed_en})"


class RiderCategoryByAge(InvalidInput):
    code = "transit_rider_category_by_age"
    zh = "乘客类别“{category}”按年龄（{min_age} 周岁）由登记信息自动确定，不能凭证明办理"
    en = "Rider category '{category}' follows the holder's age ({min_age}) in the registry; it is not granted"


class RiderProofKindNotAccepted(InvalidInput):
    code = "transit_rider_proof_kind"
    zh = "办理“{category}”类别不接受证明类型“{proof_kind}”（可用：{accepted}）"
    en = "Proof kind '{proof_kind}' is not accepted for '{category}' (accepted: {accepted})"


class RiderGrantOutletNotAllowed(InvalidInput):
    code = "transit_rider_grant_outlet"
    zh = "网点“{outlet_code}”不是市民卡网点，不能核验乘客优惠类别证明"
    en = "Outlet '{outlet_code}' is no citizen-card outlet and does not check rider category proofs"


class RiderGrantNeedsEnd(InvalidInput):
    code = "transit_rider_grant_needs_end"
    zh = "办理“{category}”类别须填写有效期截止日（如学年结束日）"
    en = "A '{category}' grant needs the day it ends (valid_until, e.g. the end of the school year)"


class RiderGrantEndNotAfterToday(InvalidInput):
    code = "transit_rider_grant_end_past"
    zh = "有效期截止日 {valid_until} 须晚于今天 {today}"
    en = "valid_until {valid_until} must be after today ({today})"


class RiderGrantTooLong(InvalidInput):
    code = "transit_rider_grant_too_long"
    zh = "“{category}”类别一次最长办理 {longest_days} 天，有效期截止日最晚为 {latest}"
    en = "A '{category}' grant runs at most {longest_days} days: valid_until can be {latest} at the latest"


class RiderGrantExists(Conflict):
    code = "transit_rider_grant_exists"
    zh = "该人员已有有效的“{category}”类别（第 {grant_id} 号，至 {valid_until}）；如需更换请先撤销"
    en = "The person already holds an active '{category}' grant (no. {grant_id}, until {valid_until}); revoke it first"


class RiderGrantNotFound(NotFound):
    code = "transit_rider_grant_not_found"
    zh = "未找到乘客类别办理记录"
    en = "Rider category grant not found"


class RiderGrantNotActive(Conflict):
    code = "transit_rider_grant_not_active"
    zh = "第 {grant_id} 号乘客类别办理记录{state_zh}，不能撤销"
    en = "Rider category grant no. {grant_id} is already {state_en}; it cannot be revoked"


class RiderRewriteNotRefused(NotFound):
    code = "transit_rider_rewrite_not_refused"
    zh = "该卡没有被卡片拒绝的乘客类别更新"
    en = "This card has no rider category update the card refused"
