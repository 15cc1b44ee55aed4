"""Small builders for the medical rules tests."""

from __future__ import annotations

from datetime import date

from yikatong.medical.policy import policy_in_force
from yikatong.medical.rules import FeeLine, ItemClass

POLICY = policy_in_force(date(2026, 6, 1))


def line(item_class: ItemClass, amount: int, *, limit: int | None = None, pre_bp: int = 0,
         code: str = "X") -> FeeLine:
    """A fee line; amounts in fen."""
    return FeeLine(code=code, item_class=item_class, amount=amount, price_limit=limit,
                   pre_self_pay_bp=pre_bp)


A, B, C, OUT = ItemClass.A, ItemClass.B, ItemClass.C, ItemClass.OUT
