"""Errors of the terminal side (terminal, PSAM, host). None carries a key, a PIN or a MAC."""

from __future__ import annotations

from typing import Any

from yikatong.chip.protocols import CardRemoved
from yikatong.core.errors import Conflict, DomainError


class CardRefused(DomainError):
    """The card answered a status word the flow cannot continue with."""

    code = "card_refused"
    http_status = 409
    zh = "卡片拒绝了{command}（状态字 {sw}）"
    en = "The card refused {command} (status {sw})"


class CounterExhausted(CardRefused):
    """The card's 2-byte transaction counter for this kind stands at FFFF: a card that locks
    there answers 9402; one that would wrap to 0000 reports FFFF and is refused by the terminal
    before any debit or credit, since its next transactions would repeat counters clearing
    already holds. `counter` is "online" (loads) or "offline" (purchases)."""

    code = "purse_counter_exhausted"
    zh = "卡片交易序号已用尽（{counter} 计数器为 FFFF，状态字 {sw}），不能再{kind_zh}；请到市民卡直营网点退还余额后换卡"
    en = ("The card's {counter} transaction counter is used up (FFFF, status {sw}): it cannot {kind_en} any "
          "more; have the balance refunded at a directly-run citizen-card outlet, then exchange the card")

    def __init__(self, *, command: str, sw: str, counter: str) -> None:
        kind_zh, kind_en = ("充值", "be topped up") if counter == "online" else ("消费", "pay")
        super().__init__(command=command, sw=sw, counter=counter, kind_zh=kind_zh, kind_en=kind_en)


class InsufficientBalance(Conflict):
    code = "purse_insufficient_balance"
    zh = "卡内余额不足：余额 {balance} 分，需 {amount} 分"
    en = "Insufficient balance on the card: {balance} fen, {amount} fen needed"


class BalanceLimitExceeded(Conflict):
    code = "purse_balance_limit"
    zh = "充值后余额将超过上限 {limit} 分"
    en = "The balance would exceed the card's limit of {limit} fen"


class PurseBlocked(Conflict):
    code = "purse_blocked"
    zh = "交通钱包应用已锁定"
    en = "The transit purse application is blocked"


class MacInvalid(DomainError):
    """A MAC did not verify: the card, the host or the PSAM is not who it claims to be."""

    code = "mac_invalid"
    http_status = 502
    zh = "{which} 校验失败"
    en = "{which} verification failed"


class WrongCard(Conflict):
    code = "wrong_card"
    zh = "这不是中断交易的那张卡"
    en = "This is not the card of the interrupted transaction"


class WrongPin(DomainError):
    code = "wrong_pin"
    http_status = 403
    zh = "密码错误，还可尝试 {remaining} 次"
    en = "Wrong PIN, {remaining} tries left"


class PinLocked(DomainError):
    code = "pin_locked"
    http_status = 403
    zh = "密码已锁定"
    en = "The PIN is locked"


class KeyNotHeld(DomainError):
    code = "psam_key_not_held"
    http_status = 403
    zh = "本终端安全模块不持有{purpose}密钥"
    en = "This terminal's security module holds no {purpose} key"


class PsamSessionUnknown(DomainError):
    code = "psam_session_unknown"
    http_status = 409
    zh = "安全模块中没有终端流水号 {serial} 的交易"
    en = "The security module has no transaction with terminal serial {serial}"


class TransactionInterrupted(CardRemoved):
    """The card left during a load or a debit: it may or may not have been done.

    `pending` holds what recovery needs (terminal.recover_load / recover_purchase) once the
    same card is presented again.
    """

    code = "transaction_interrupted"
    zh = "交易过程中卡片离开，请重新放卡以完成交易"
    en = "The card left during the transaction; present it again to complete it"

    def __init__(self, pending: Any) -> None:
        super().__init__()
        self.pending = pending
