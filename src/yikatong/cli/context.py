"""One Platform per CLI invocation, built from the environment."""

from __future__ import annotations

from datetime import date
from functools import cache

from yikatong.platform import Platform


@cache
def platform() -> Platform:
    return Platform()


def day_or_today(text: str | None, uow) -> date:
    """A command's --day: the date given (YYYY-MM-DD), or today in China Standard Time by the
    platform's clock."""
    from yikatong.core.clock import local_date
    from yikatong.core.errors import InvalidInput

    if text is None:
        return local_date(uow.now())
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(reason_zh="日期须为 YYYY-MM-DD", reason_en="the day must be YYYY-MM-DD") from None
