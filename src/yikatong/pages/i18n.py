"""The pages' languages: Chinese first, English by the reader's choice.

Every string a page shows is a gettext message: the message id is the English text, and
`locale/<locale>/LC_MESSAGES/messages.po` translates it (zh_CN translates every message; en
leaves most empty, so the id itself is shown). The catalogues are text files in the
repository, compiled in memory when a page is first rendered (no .mo files to forget to
rebuild). `make messages` extracts the ids from the templates and the pages' Python code and
merges them into both catalogues (babel.cfg names where to look);
tests/pages/test_catalogues.py fails on a message that is not translated into Chinese.

The reader's language is the `ykt_lang` cookie, set by the switch in every page's header
(`GET /lang/{locale}`); without it, zh_CN. The domain's own bilingual vocabulary (state words,
error messages: the same `zh`/`en` pair the API answers with) is shown in the reader's
language through `pick(zh, en)`; it is data of the domain, not page text.
"""

from __future__ import annotations

import io
from functools import cache
from gettext import GNUTranslations
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from starlette.requests import Request

ZH, EN = "zh_CN", "en"
LOCALES = (ZH, EN)
DEFAULT_LOCALE = ZH
LANGUAGE_COOKIE = "ykt_lang"
LOCALE_DIR = Path(__file__).parent / "locale"
# The value of <html lang> per locale.
HTML_LANG = {ZH: "zh-CN", EN: "en"}


def locale_of(request: Request) -> str:
    """The reader's chosen locale, else Chinese."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    return chosen if chosen in LOCALES else DEFAULT_LOCALE


def catalogue_path(locale: str) -> Path:
    return LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"


@cache
def translations(locale: str) -> GNUTranslations:
    """The locale's catalogue, compiled once per process."""
    with catalogue_path(locale).open("rb") as po:
        catalogue = read_po(po, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return GNUTranslations(compiled)


def pick(locale: str, zh: str | None, en: str | None) -> str:
    """One of a domain's bilingual pair in the reader's language (the other if it is empty)."""
    first, second = (zh, en) if locale == ZH else (en, zh)
    return first or second or ""
