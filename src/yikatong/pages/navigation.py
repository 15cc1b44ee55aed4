"""Who sees which pages in the header menu, and where each role lands after signing in.

The menu only shows the way: whether a person may open a page is the access table's answer
(auth.access), checked for every request like any route. A label is a message id (English),
translated where the layout shows it; `N_` only marks it for extraction.
"""

from __future__ import annotations

from dataclasses import dataclass

from yikatong.core.actor import Actor, Role


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    return message


@dataclass(frozen=True)
class MenuItem:
    path: str
    label: str  # a message id


HOLDER_MENU = (
    MenuItem("/me", N_("My card")),
    MenuItem("/me/ecard", N_("My e-card")),
)
COUNTER_MENU = (
    MenuItem("/counter", N_("Counter")),
)
AGENT_MENU = (
    MenuItem("/agent", N_("Caller's card")),
)
CENTRE_MENU = (
    MenuItem("/centre", N_("Dashboards")),
)

MENUS: dict[Role, tuple[MenuItem, ...]] = {
    Role.HOLDER: HOLDER_MENU,
    Role.SS_OUTLET: COUNTER_MENU,
    Role.CITIZEN_OUTLET: COUNTER_MENU,
    Role.PHONE_AGENT: AGENT_MENU,
    Role.ADMIN: CENTRE_MENU,
}


def menu_of(actor: Actor | None) -> tuple[MenuItem, ...]:
    return MENUS.get(actor.role, ()) if actor is not None else ()


def home_of(role: Role) -> str:
    """The first page of the role's menu; the site's front page for a role without pages
    (partner systems work through the API)."""
    menu = MENUS.get(role, ())
    return menu[0].path if menu else "/"
