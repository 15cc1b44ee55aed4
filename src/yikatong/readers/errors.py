"""Errors a reader raises. None of them ever carries APDU bytes: a command may hold a PIN
block or a cryptogram, and errors end up in logs and on screens."""

from __future__ import annotations

from yikatong.chip.protocols import CardRemoved
from yikatong.core.errors import DomainError

INSTALL_HINT_ZH = "请运行 scripts/pcsc-up.sh 安装并启动 pcscd 与 vsmartcard-vpcd"
INSTALL_HINT_EN = "run scripts/pcsc-up.sh to install and start pcscd and vsmartcard-vpcd"


class PcscUnavailable(DomainError):
    code = "pcsc_unavailable"
    http_status = 503
    zh = "PC/SC 读卡环境不可用：{reason_zh}"
    en = "The PC/SC reader stack is not available: {reason_en}"


class ReaderNotFound(DomainError):
    code = "reader_not_found"
    http_status = 404
    zh = "未找到读卡器“{name}”（现有：{available}）"
    en = "No reader named '{name}' (present: {available})"


# Both are CardRemoved, as the CardReader contract says: a terminal that sent a debit when
# the reader failed must recover the transaction once the card answers again.
class NoCardInReader(CardRemoved):
    code = "no_card_in_reader"
    zh = "读卡器“{reader}”中没有卡片"
    en = "There is no card in reader '{reader}'"


class CardCommunicationError(CardRemoved):
    code = "card_communication_error"
    http_status = 502
    zh = "与读卡器“{reader}”中的卡片通信失败：{reason_zh}"
    en = "Talking to the card in reader '{reader}' failed: {reason_en}"


class VpcdUnreachable(DomainError):
    code = "vpcd_unreachable"
    http_status = 503
    zh = "无法连接虚拟读卡器 vpcd（{host}:{port}），请确认 pcscd 已运行并装有 vsmartcard-vpcd；" + INSTALL_HINT_ZH
    en = (
        "Cannot reach the vpcd virtual reader at {host}:{port}; is pcscd running with "
        "vsmartcard-vpcd? " + INSTALL_HINT_EN
    )
