"""Money is integer fen (分), never float.

Bounds (so that no amount, however large, overflows a column or corrupts a balance):

* `MAX_AMOUNT_FEN` — any one amount a request carries (a deposit, a payment, a credit, a
  top-up, a refund): 10 million CNY (一千万元). It fits a 32-bit column. Request schemas
  take money as `FenAmount` / `PositiveFenAmount`, which carry it as their maximum.
* `MAX_BALANCE_FEN` — any ledger balance, either sign: 10 trillion CNY, far below 2^63 fen,
  so a sum of two balances or of a balance and an amount cannot overflow a BIGINT. The
  ledger refuses a posting that would take a balance past it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Fen = int

FEN_PER_YUAN = 100
MAX_AMOUNT_FEN = 1_000_000_000
MAX_BALANCE_FEN = 10**15

FenAmount = Annotated[int, Field(strict=True, ge=0, le=MAX_AMOUNT_FEN, description=(
    f"fen (1 CNY = 100 fen), an integer from 0 to {MAX_AMOUNT_FEN} (10 million CNY)"))]
PositiveFenAmount = Annotated[int, Field(strict=True, gt=0, le=MAX_AMOUNT_FEN, description=(
    f"fen (1 CNY = 100 fen), an integer from 1 to {MAX_AMOUNT_FEN} (10 million CNY)"))]


def yuan(amount: int) -> Fen:
    """Whole yuan to fen."""
    return amount * FEN_PER_YUAN


def format_fen(amount: Fen) -> str:
    """'12.30' for 1230: for people, never for arithmetic."""
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), FEN_PER_YUAN)
    return f"{sign}{whole}.{part:02d}"


def parse_yuan(text: str) -> Fen:
    """'12.3' → 1230, exactly (no float on the way)."""
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    whole, _, part = text.lstrip("+-").partition(".")
    if not whole.isdigit() or (part and (not part.isdigit() or len(part) > 2)):
        raise ValueError(f"not an amount in yuan: {text!r}")
    return sign * (int(whole) * FEN_PER_YUAN + int(part.ljust(2, "0") or 0))


def apply_rate(amount: Fen, numerator: int, denominator: int) -> Fen:
    """amount × numerator / denominator, rounded half up to the fen, in integers."""
    if amount < 0:
        return -apply_rate(-amount, numerator, denominator)
    return (amount * numerator * 2 + denominator) // (denominator * 2)
