"""Typed errors of the card lifecycle, each with a stable code and zh-CN + en messages."""

from __future__ import annotations

from yikatong.core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound


class CardNotFound(NotFound):
    code = "card_not_found"
    zh = "未找到卡号为 {card_no} 的社会保障卡"
    en = "No card with number {card_no}"


class InvalidCardNo(InvalidInput):
    code = "invalid_card_no"
    zh = "卡号“{card_no}”格式不正确（应为 9 位大写字母或数字）"
    en = "Card number '{card_no}' is malformed (9 upper-case letters or digits expected)"


class DuplicateCard(Conflict):
    code = "duplicate_card"
    zh = "卡号、卡识别码或银行账号已被其他卡使用：{field}"
    en = "Card number, card identification code or account number already in use: {field}"


class CardNotInUse(Conflict):
    code = "card_not_in_use"
    zh = "该卡当前状态为“{state_zh}”，不能办理此业务；下一步：{state_next_zh}"
    en = "The card is {state_en}; this cannot be done now. Next: {state_next_en}"


class ReplacementInUse(Conflict):
    code = "replacement_in_use"
    zh = "已补办并启用新卡（{successor}），原卡不能解挂，也不能再使用"
    en = ("A replacement card ({successor}) has been issued and put into use; the old card "
          "can no longer be unblocked or used")


class CardAlreadyLost(Conflict):
    code = "card_already_lost"
    zh = "该卡{function_zh}已处于{kind_zh}状态"
    en = "The {function_en} of this card is already under {kind_en}"


class NotLost(Conflict):
    code = "not_lost"
    zh = "该卡{function_zh}当前没有挂失，无需解挂"
    en = "The {function_en} of this card is not reported lost; nothing to unblock"


class LossChannelNotAllowed(DomainError):
    code = "loss_channel_not_allowed"
    http_status = 422
    zh = "{what_zh}只能通过{allowed_zh}办理"
    en = "{what_en} can only be done through {allowed_en}"


class TransitCannotBeLost(DomainError):
    code = "transit_cannot_be_lost"
    http_status = 422
    zh = "交通电子钱包不记名、无密码，遗失后不能挂失，请妥善保管卡片"
    en = ("The transit wallet is anonymous and has no PIN: it cannot be reported lost. "
          "Please keep the card safe")


class FinancialLossAtBank(DomainError):
    code = "financial_loss_at_bank"
    http_status = 422
    zh = ("金融功能{kind_zh}请按{bank_zh}的规定办理：请拨打{bank_zh}客服电话 {hotline} "
          "或到{bank_zh}任一网点办理")
    en = ("The financial function's {kind_en} follows the rules of {bank_en}: call its "
          "hotline {hotline} or go to any of its branches")


class UnblockChannelMismatch(Conflict):
    code = "unblock_channel_mismatch"
    zh = "解挂须通过挂失时的原途径办理：该卡{function_zh}是通过{channel_zh}挂失的，请通过{channel_zh}解挂"
    en = ("Unblocking must go through the channel the loss was reported on: the {function_en} "
          "was reported lost through {channel_en}; unblock it there")


class ReplacementNotAllowed(Conflict):
    code = "replacement_not_allowed"
    zh = "不能补卡：{reason_zh}"
    en = "A replacement card cannot be issued: {reason_en}"


class ExchangeNotAllowed(Conflict):
    code = "exchange_not_allowed"
    zh = "不能换卡：{reason_zh}"
    en = "The card cannot be exchanged: {reason_en}"


class TransitBalanceNotRefunded(Conflict):
    code = "transit_balance_not_refunded"
    zh = ("交通电子钱包{balance_zh}：请先携卡到市民卡直营网点办理退值，"
          "再到社会保障卡服务网点办理换卡")
    en = ("The transit wallet {balance_en}: first have it refunded at a directly-run "
          "citizen-card outlet, then exchange the card at a social-security card outlet")


class TransferWithinJiangsu(DomainError):
    code = "transfer_within_jiangsu"
    http_status = 422
    zh = "江苏省内一人一卡，省内社保关系转移无需换卡，该卡继续有效"
    en = ("One person, one card within Jiangsu: a transfer within the province needs no new "
          "card, and this card stays valid")


class AlreadyFrozen(Conflict):
    code = "already_frozen"
    zh = "该卡人社功能已被冻结"
    en = "The HR function of this card is already frozen"


class NotFrozen(Conflict):
    code = "not_frozen"
    zh = "该卡人社功能未被冻结"
    en = "The HR function of this card is not frozen"


class BankEventMismatch(DomainError):
    code = "bank_event_mismatch"
    http_status = 422
    zh = "银行事件与卡片不符：{reason_zh}"
    en = "The bank event does not match the card: {reason_en}"


class WalletRefundNotAllowed(Forbidden):
    code = "wallet_refund_not_allowed"
    zh = "交通钱包退值只能在市民卡直营网点办理"
    en = "Transit wallet refunds are done only at directly-run citizen-card outlets"


class LiveCardExists(Conflict):
    code = "live_card_exists"
    zh = "省内一人一卡：该人员已有有效的社会保障卡（{card_no}）"
    en = "One person, one card in the province: this person already has a live card ({card_no})"


class FinancialAlreadyActivated(Conflict):
    code = "financial_already_activated"
    zh = "该卡金融功能已激活（当前状态：{status_zh}）"
    en = "The financial function of this card is already activated (it is {status_en})"


class CallerNotIdentified(DomainError):
    """12333: the caller's answers do not match one person's record. One answer for every
    mismatch (no person, wrong name, wrong digits, a card not theirs), so the line cannot be
    used to learn which part of a stranger's record was right."""

    code = "caller_not_identified"
    http_status = 422
    zh = "来电人身份核验未通过：回答与登记信息不符"
    en = "The caller's identity could not be confirmed: the answers do not match the record"


class IdentityQuestionMissing(InvalidInput):
    code = "identity_question_missing"
    zh = "除证件号码和姓名外，还须核对预留手机号后四位或卡号"
    en = ("Besides the ID number and name, check the last four digits of the phone on file "
          "or the card number")
