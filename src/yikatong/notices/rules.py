"""What each notice says (Chinese first, English beside it) and how a phone number is masked.

Pure: no I/O. A template's `secret` fields (one-time codes) are blanked in the recorded text;
only the message handed to the carrier carries them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from yikatong.core.errors import InvalidInput
from yikatong.core.masking import mask_phone  # noqa: F401  (where callers have looked for it)

SIGNATURE_ZH = "【常州一卡通】"
SIGNATURE_EN = "[Changzhou One Card]"
BLANK = "******"

# A mainland mobile number: 11 digits starting 13–19.
MOBILE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True)
class Template:
    zh: str
    en: str
    secret: tuple[str, ...] = ()


TEMPLATES: dict[str, Template] = {
    "code_sign_up": Template(
        "您正在注册常州一卡通账号，验证码 {code}，{minutes} 分钟内有效。请勿告诉任何人。",
        "Your sign-up code is {code}, valid {minutes} minutes. Never tell it to anyone.",
        secret=("code",)),
    "code_ecard_reset": Template(
        "您正在重置电子社保卡密码，验证码 {code}，{minutes} 分钟内有效。请勿告诉任何人。",
        "Your e-card password reset code is {code}, valid {minutes} minutes. Never tell it to anyone.",
        secret=("code",)),
    "code_phone_change": Template(
        "您正在更换一卡通账号绑定的手机号，验证码 {code}，{minutes} 分钟内有效。如非本人操作请勿提供。",
        "Your code to change the account's phone number is {code}, valid {minutes} minutes. "
        "If this is not you, do not give it to anyone.",
        secret=("code",)),
    "phone_changed": Template(
        "您一卡通账号绑定的手机号已改为 {new_phone}（{how_zh}）。如非本人办理，请立即拨打 12333。",
        "The phone number of your One Card account was changed to {new_phone} ({how_en}). "
        "If this was not you, call 12333 at once."),
    "card_loss": Template(
        "您尾号 {card_tail} 的社会保障卡已{kind_zh}挂失。如非本人办理，请拨打 12333。",
        "Your social security card ending {card_tail} is now reported lost ({kind_en}). "
        "If this was not you, call 12333."),
    "card_unblocked": Template(
        "您尾号 {card_tail} 的社会保障卡已解除挂失。如非本人办理，请拨打 12333。",
        "The loss report on your social security card ending {card_tail} was lifted. "
        "If this was not you, call 12333."),
    # benefits (issue 14): a 代发 payment the bank or the platform could not pay
    "benefit_payment_failed": Template(
        "您的{programme_zh}（{period}）{amount} 元未能发放（{reason_zh}），我们将再次发放；"
        "如需帮助请拨打 12333。",
        "Your {programme_en} for {period} (CNY {amount}) could not be paid ({reason_en}); it "
        "will be paid again. Call 12333 for help."),
    "replacement_ready": Template(
        "您的新社会保障卡（尾号 {card_tail}）已制作完成，请携带身份证到 {outlet} 领取。",
        "Your new social security card (ending {card_tail}) is ready: collect it at {outlet} "
        "with your ID card."),
    "payment_held": Template(
        "您尾号 {card_tail} 的社会保障卡有一笔 {amount} 元的款项暂挂，金融功能激活后办理，"
        "请携带身份证和卡片到{bank_zh}网点激活。",
        "A payment of CNY {amount} on your social security card ending {card_tail} is held "
        "until you activate the financial function at a {bank_en} branch with your ID card."),
    "expiry_reminder": Template(
        "您尾号 {card_tail} 的社会保障卡金融功能将于 {valid_until} 到期，请及时到网点换卡。",
        "The financial function of your social security card ending {card_tail} ends on "
        "{valid_until}; please exchange the card at an outlet."),
}


@dataclass(frozen=True)
class Rendered:
    zh: str          # as recorded: secret fields blanked
    en: str
    delivered: str   # the whole message handed to the carrier


def render(template: str, params: dict[str, object]) -> Rendered:
    """The recorded text (secrets blanked) and the delivered text of one notice."""
    spec = TEMPLATES[template]
    shown = {**params, **{name: BLANK for name in spec.secret}}
    full_zh, full_en = spec.zh.format(**params), spec.en.format(**params)
    return Rendered(zh=SIGNATURE_ZH + spec.zh.format(**shown),
                    en=SIGNATURE_EN + " " + spec.en.format(**shown),
                    delivered=f"{SIGNATURE_ZH}{full_zh} {SIGNATURE_EN} {full_en}")


def normalise_mobile(phone: str | None) -> str:
    """A mainland mobile number without spaces, dashes or +86; InvalidInput if it is none."""
    digits = re.sub(r"[\s-]", "", phone or "")
    if digits.startswith("+86"):
        digits = digits[3:]
    if not MOBILE.match(digits):
        raise InvalidInput(reason_zh="手机号格式不正确", reason_en="not a mainland mobile number")
    return digits


def card_tail(card_no: str | None) -> str:
    return (card_no or "")[-4:]
