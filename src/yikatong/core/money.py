"""Money is integer fen (分), never float."""

from __future__ import annotations

Fen = int

FEN_PER_YUAN = 100


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
