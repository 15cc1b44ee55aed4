"""What the reference bank refuses, each with a stable code and zh + en messages. The gateway
hands them to the platform as `BankRefused` with the same texts."""

from __future__ import annotations

from yikatong.core.errors import Conflict, DomainError, InvalidInput, NotFound

# 四.9: why money stops while the financial function is not activated.
NOT_ACTIVATED_ZH = ("金融功能尚未激活：请持卡人本人携带有效身份证件和社会保障卡到卡面标识银行的网点"
                    "激活，激活后暂挂的款项自动处理")
NOT_ACTIVATED_EN = ("The financial function is not activated yet: the holder activates it in "
                    "person, with a valid ID document and the card, at a branch of the bank "
                    "named on the card; held payments go through once it is activated")


class UnknownAccount(NotFound):
    code = "bank_account_not_found"
    zh = "本行未找到该账户"
    en = "This bank has no such account"


class NotServedHere(NotFound):
    code = "bank_not_served"
    zh = "该参考银行实例不受理 {bank_code} 的业务"
    en = "This reference bank instance does not serve {bank_code}"


class AccountNotActivated(DomainError):
    code = "bank_account_not_activated"
    http_status = 409
    zh = NOT_ACTIVATED_ZH
    en = NOT_ACTIVATED_EN


class AccountLost(DomainError):
    code = "bank_account_lost"
    http_status = 409
    zh = "该卡金融功能已{kind_zh}，不能用卡支付、取款或转出；入账不受影响"
    en = "The card's financial function is under {kind_en}: no payments, withdrawals or " \
         "transfers out; money can still be paid in"


class AccountClosed(DomainError):
    code = "bank_account_closed"
    http_status = 409
    zh = "该账户已销户"
    en = "The account is closed"


class CurrencyNotSupported(InvalidInput):
    code = "bank_currency_not_supported"
    zh = "一卡通金融账户为人民币借记账户，仅支持人民币（CNY），不支持 {currency}"
    en = "The card's account is a CNY debit account: only CNY is accepted, not {currency}"


class CountryNotSupported(InvalidInput):
    code = "bank_country_not_supported"
    zh = "一卡通金融功能仅限中国境内使用，不支持在 {country} 交易"
    en = "The card's financial function is for use within China only, not in {country}"


class CardPresentExpired(DomainError):
    code = "bank_card_present_expired"
    http_status = 409
    zh = ("金融功能已超过 10 年有效期（至 {valid_until}），不能办理柜面及 ATM 取款、POS 消费等线下有卡"
          "交易；线上无卡交易不受影响，资金可以正常入账，请及时换卡")
    en = ("The financial function passed its 10-year validity ({valid_until}): no counter or "
          "ATM withdrawals or POS purchases with the card; online payments and incoming money "
          "still work. Please exchange the card")


class CryptogramInvalid(DomainError):
    code = "bank_arqc_invalid"
    http_status = 402
    zh = "芯片交易密文（ARQC）校验失败，交易被拒绝"
    en = "The chip's cryptogram (ARQC) did not verify; the transaction is declined"


class CryptogramReplayed(DomainError):
    code = "bank_arqc_replayed"
    http_status = 402
    zh = "芯片交易计数器（ATC）未增加，疑似重放，交易被拒绝"
    en = "The chip's transaction counter (ATC) did not move forward; declined as a replay"


class CryptogramMismatch(InvalidInput):
    code = "bank_arqc_mismatch"
    zh = "芯片密文所含交易数据与请求不一致：{what_zh}"
    en = "The data the chip signed differ from the request: {what_en}"


class HolderNotPresent(DomainError):
    code = "bank_holder_not_present"
    http_status = 422
    zh = "激活金融功能须持卡人本人携带有效身份证件和卡片到网点办理（柜员须核验证件并验卡）"
    en = ("Activation needs the holder in person with a valid ID document and the card (the "
          "teller checks both)")


class AlreadyActivated(Conflict):
    code = "bank_already_activated"
    zh = "该账户金融功能已激活"
    en = "The account's financial function is already activated"


class AlreadyLost(Conflict):
    code = "bank_already_lost"
    zh = "该账户已{kind_zh}"
    en = "The account is already under {kind_en}"


class NotLost(Conflict):
    code = "bank_not_lost"
    zh = "该账户没有挂失，无需解挂"
    en = "The account is not reported lost; nothing to unblock"


class ClosureTaskNotFound(NotFound):
    code = "bank_closure_task_not_found"
    zh = "未找到该销户任务"
    en = "No such account closure task"


class BalanceRemains(Conflict):
    code = "bank_balance_remains"
    zh = "账户尚有余额 {amount} 元，请先取出或转出后再销户"
    en = "The account still holds CNY {amount}; withdraw or transfer it before closing"


class AccountNumberMismatch(Conflict):
    code = "bank_account_number_mismatch"
    zh = "该卡在本行登记的账号与请求不一致"
    en = "The account number registered for this card differs from the request"


class CardReplaced(Conflict):
    code = "bank_card_replaced"
    zh = "该卡已补领新卡（新卡 {successor}），原卡永久停用：不能解挂、激活、用卡支付或取款"
    en = ("A replacement for this card ({successor}) was handed over: the old card is retired "
          "for good and cannot be unblocked, activated or used to pay or withdraw")


class AccountFrozen(DomainError):
    code = "bank_account_frozen"
    http_status = 409
    zh = "该账户已被冻结（{reason}），暂不能收付款"
    en = "The account is frozen ({reason}): no money in or out for now"


class NotFrozen(Conflict):
    code = "bank_not_frozen"
    zh = "该账户未被冻结"
    en = "The account is not frozen"


class NotRefundable(DomainError):
    code = "bank_not_refundable"
    http_status = 409
    zh = "无法退款：{reason_zh}"
    en = "Cannot refund: {reason_en}"
