"""Every message of the pages is in the catalogues and translated into Chinese."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from yikatong.pages.i18n import ZH, catalogue_path, translations

ROOT = Path(__file__).resolve().parents[2]
METHODS = [("src/yikatong/**/web.py", "python"), ("src/yikatong/pages/**.py", "python"),
           ("src/yikatong/**/templates/**.html", "jinja2")]
OPTIONS = {"src/yikatong/**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}


def _messages_in_source() -> set[str]:
    found = extract_from_dir(str(ROOT), method_map=METHODS, options_map=OPTIONS,
                             keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None})
    return {message if isinstance(message, str) else message[0]
            for _file, _line, message, _comments, _context in found}


def _catalogue(locale: str):
    with catalogue_path(locale).open("rb") as po:
        return read_po(po, locale=locale)


def test_every_message_in_the_source_is_translated_into_chinese():
    catalogue = _catalogue(ZH)
    missing = sorted(m for m in _messages_in_source()
                     if catalogue.get(m) is None or not catalogue.get(m).string
                     or catalogue.get(m).fuzzy)
    assert not missing, f"run `make messages` and translate in {catalogue_path(ZH)}: {missing}"


def test_the_english_catalogue_knows_every_message_too():
    catalogue = _catalogue("en")
    missing = sorted(m for m in _messages_in_source() if catalogue.get(m) is None)
    assert not missing, f"run `make messages`: {missing}"


def test_the_catalogues_compile_and_translate():
    assert translations(ZH).gettext("Sign in") == "登录"
    assert translations("en").gettext("Sign in") == "Sign in"
