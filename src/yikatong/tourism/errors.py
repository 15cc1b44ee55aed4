"""Errors of the tourism domain: each refusal has a stable code and zh + en messages, and
changes nothing."""

from __future__ import annotations

from yikatong.core.errors import Conflict, DomainError, InvalidInput, NotFound


class VenueNotFound(NotFound):
    code = "tourism_venue_not_found"
    zh = "未找到该景区或场馆"
    en = "Venue not found"

    def __init__(self, **details) -> None:
        super().__init__(what="venue", **details)


class ProductNotFound(NotFound):
    code = "tourism_product_not_found"
    zh = "未找到该门票或年卡产品"
    en = "Product not found"

    def __init__(self, **details) -> None:
        super().__init__(what="product", **details)


class TicketNotFound(NotFound):
    code = "tourism_ticket_not_found"
    zh = "未找到该门票或年卡"
    en = "Ticket or pass not found"

    def __init__(self, **details) -> None:
        super().__init__(what="ticket", **details)


class OperatorNotFound(NotFound):
    code = "tourism_operator_not_found"
    zh = "未找到该运营单位"
    en = "Venue operator not found"

    def __init__(self, **details) -> None:
        super().__init__(what="operator", **details)


class SlotUnknown(InvalidInput):
    code = "tourism_slot_unknown"
    zh = "该门票没有时段 {slot}（可选：{allowed}）"
    en = "This ticket has no time slot {slot} (choose from: {allowed})"


class DayNotSellable(InvalidInput):
    code = "tourism_day_not_sellable"
    zh = "只能购买今天起 {days} 天内的门票"
    en = "Tickets are sold for today and the next {days} days only"


class SlotSoldOut(Conflict):
    code = "tourism_slot_sold_out"
    zh = "{day} {slot} 时段已售罄"
    en = "The {slot} slot on {day} is sold out"


class ProductInactive(Conflict):
    code = "tourism_product_inactive"
    zh = "该产品已停售"
    en = "This product is no longer sold"


class ConfirmationRequired(InvalidInput):
    code = "tourism_confirmation_required"
    zh = "请确认由本人社保卡银行账户支付"
    en = "Confirm that the card's bank account pays"


class NoLiveCard(Conflict):
    code = "tourism_no_live_card"
    zh = "未找到在用的社会保障卡"
    en = "There is no card in use"


class AccountRefused(DomainError):
    """The card's bank refused the payment or the refund (reason code from the bank)."""

    code = "tourism_account_refused"
    http_status = 409
    zh = "银行拒绝：{reason_zh}"
    en = "The bank refused: {reason_en}"


class NotRefundable(Conflict):
    code = "tourism_not_refundable"
    zh = "该门票不可退（{why_zh}）"
    en = "This ticket cannot be refunded ({why_en})"


class WalletPurchaseNotCleared(Conflict):
    code = "tourism_wallet_purchase_not_cleared"
    zh = "该门票的钱包消费尚未清算，请待景区终端上传清算文件后再退票"
    en = "The ticket's wallet purchase has not been cleared yet: refund it once the venue terminal's file is cleared"


class PassNotActivatable(Conflict):
    code = "tourism_pass_not_activatable"
    zh = "该年卡不可激活（{why_zh}）"
    en = "This pass cannot be activated ({why_en})"


class PurchaseAlreadyUsed(Conflict):
    code = "tourism_purchase_already_used"
    zh = "该笔交通联合消费已对应另一张门票"
    en = "This T-Union purchase already paid another ticket"


class WrongVenue(InvalidInput):
    code = "tourism_wrong_venue"
    zh = "该产品不适用于景区 {venue_code}"
    en = "This product is not for venue {venue_code}"


class ProductInvalid(InvalidInput):
    code = "tourism_product_invalid"
    zh = "产品定义有误：{why_zh}"
    en = "The product is invalid: {why_en}"


class SettlementPeriodOpen(Conflict):
    code = "tourism_settlement_period_open"
    zh = "结算期须已结束（截至 {period_to}，今天是 {today}）"
    en = "The settlement period must be over (it ends {period_to}; today is {today})"


class SettlementOutOfOrder(Conflict):
    code = "tourism_settlement_out_of_order"
    zh = "结算期须在上一结算期（截至 {latest}）之后"
    en = "A settlement period must start after the last one settled (which ended {latest})"


class GateTaken(Conflict):
    code = "tourism_gate_taken"
    zh = "闸机编号 {gate_id} 已登记在另一景区"
    en = "Gate id {gate_id} is registered at another venue"


class VenueExists(Conflict):
    code = "tourism_venue_exists"
    zh = "景区代码 {venue_code} 已存在且信息不同"
    en = "Venue code {venue_code} exists with other details"


class OperatorExists(Conflict):
    code = "tourism_operator_exists"
    zh = "运营单位代码 {operator_code} 已存在且名称不同"
    en = "Operator code {operator_code} exists with other names"
