"""How personal data is shown to whoever may not see it whole: in lists, in logs, in the audit
trail, to the 12333 agent and partner outlets (people/privacy.py decides who sees what).

Each mask keeps enough to recognise the value (the holder confirming it on the phone, a clerk
matching it with the document in hand), not enough to use it elsewhere."""

from __future__ import annotations


def mask_ssn(ssn: str | None) -> str:
    """Hide the middle of an identity number: 320402********0013."""
    if not ssn:
        return ""
    if len(ssn) >= 12:
        return ssn[:6] + "*" * (len(ssn) - 10) + ssn[-4:]
    return "*" * (len(ssn) - 2) + ssn[-2:]


def mask_name(name: str | None) -> str:
    """张三丰 → 张*丰, 张三 → 张*, 欧阳娜娜 → 欧**娜."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str | None) -> str:
    """13812345678 → 138****5678: enough to recognise the number, not to dial it."""
    digits = (phone or "").strip()
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_address(address: str | None) -> str:
    """The first six characters (province, city: where, not who) and a mark for the rest."""
    address = (address or "").strip()
    return address[:6] + "***" if len(address) > 6 else "***"


def mask_birth_date(birth_date: str) -> str:
    """1990-05-17 → 1990-**-**: the year is enough to read an age rule."""
    return birth_date[:4] + "-**-**" if len(birth_date) >= 4 else "****"
