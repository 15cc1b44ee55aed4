"""One way to write a page: `render(request, "domain/template.html", {...})`.

Templates live in each domain package's `templates/` folder and are named with the package as
prefix (`cards/my_card.html` is `src/yikatong/cards/templates/my_card.html`); they extend
`pages/base.html` (the layout: header, the signed-in person's menu, the language switch,
main, footer) and import the form macros of `pages/forms.html`. One Jinja2 environment per
locale, built once, with the locale's catalogue installed (`{{ _("My card") }}`) and the
filters of `formatting` bound to it (`{{ fen | money }}`, `{{ day | day }}`,
`{{ moment | moment }}`), and `pick(zh, en)` for the domain's own bilingual words.

Every page answer is `Cache-Control: no-store` (api.middleware): a page shows a person's data.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, PrefixLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

import yikatong
from yikatong.pages import formatting, i18n, navigation
from yikatong.pages.sessions import CSRF_FIELD, csrf_token

STATIC_PREFIX = "/static"
STATIC_FOLDER = Path(__file__).parent / "static"
HTMX = "vendor/htmx-2.0.11.min.js"


def template_folders() -> dict[str, Path]:
    """Every domain package with a `templates/` folder, by package name."""
    folders = {}
    for module in pkgutil.iter_modules(yikatong.__path__):
        folder = Path(yikatong.__path__[0]) / module.name / "templates"
        if module.ispkg and folder.is_dir():
            folders[module.name] = folder
    return folders


@cache
def environment(locale: str) -> Environment:
    env = Environment(
        loader=PrefixLoader({name: FileSystemLoader(folder)
                             for name, folder in template_folders().items()}),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,  # a misspelt name fails the page's test, not a silent gap
        trim_blocks=True, lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)
    env.filters.update(
        money=formatting.money,
        day=lambda value: formatting.day(value, locale),
        moment=lambda value: formatting.moment(value, locale),
    )
    env.globals.update(
        locale=locale, html_lang=i18n.HTML_LANG[locale], locales=i18n.LOCALES,
        pick=lambda zh, en: i18n.pick(locale, zh, en), static=static_url, htmx=static_url(HTMX),
        csrf_field_name=CSRF_FIELD, current_item=navigation.current_item,
    )
    return env


def static_url(path: str) -> str:
    return f"{STATIC_PREFIX}/{path}"


def render(request: Request, template: str, context: Mapping[str, Any] | None = None, *,
           status_code: int = 200, headers: Mapping[str, str] | None = None) -> HTMLResponse:
    """The page `template` in the reader's language. The context always has `request`, the
    signed-in `actor` (or None) with their `menu`, the form's `csrf_token`, and the current
    `path` (for the language switch and the sign-in's way back)."""
    locale = i18n.locale_of(request)
    actor = getattr(request.state, "actor", None)
    page = environment(locale).get_template(template)
    html = page.render(
        request=request, actor=actor, menu=navigation.menu_of(actor), path=_path(request),
        csrf_token=csrf_token(request), **(context or {}))
    return HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))


def _path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")
