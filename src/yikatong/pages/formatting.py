"""How pages write money, dates and times: the Changzhou conventions (¥12.34, 2026年12月04日,
Beijing time) in Chinese, and their English equivalents. Pure functions, used as template
filters (`{{ amount | money }}`, `{{ day | day }}`, `{{ moment | moment }}`)."""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date

from yikatong.core.clock import local_date, local_text
from yikatong.core.money import format_fen
from yikatong.pages.i18n import ZH


def money(fen: int | None) -> str:
    """¥12.34 from 1234 fen, -¥0.05 from -5; an empty string for no amount. Integer fen in,
    never a float on the way."""
    if fen is None:
        return ""
    text = format_fen(fen)
    whole, _, part = text.lstrip("-").partition(".")
    return f"{'-' if fen < 0 else ''}¥{int(whole):,}.{part}"


def day(value: date | datetime | None, locale: str) -> str:
    """2026年12月04日 in Chinese, 4 Dec 2026 in English (a moment is first taken to Beijing
    time, so a card handed over at 23:30 UTC shows the next day, as its holder saw it)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local_date(value)
    if locale == ZH:
        return f"{value.year:04d}年{value.month:02d}月{value.day:02d}日"
    return format_date(value, "d MMM y", locale="en")


def moment(value: datetime | None, locale: str) -> str:
    """A day and a Beijing time to the minute: 2026年12月04日 09:05 / 4 Dec 2026 09:05."""
    if value is None:
        return ""
    return f"{day(local_date(value), locale)} {local_text(value, '%H:%M')}"
