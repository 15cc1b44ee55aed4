"""Who sees which pages in the header menu, and where each role lands after signing in.

The menu only shows the way: whether a person may open a page is the access table's answer
(auth.access), checked for every request like any route. A label is a message id (English),
translated where the layout shows it; `N_` only marks it for extraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from yikatong.auth.access import allowed_roles
from yikatong.core.actor import Actor, Role


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    return message


@dataclass(frozen=True)
class MenuItem:
    path: str
    label: str  # a message id


HOLDER_MENU = (
    MenuItem("/me", N_("My card")),
    MenuItem("/me/apply", N_("Apply online")),
    MenuItem("/me/applications", N_("My applications")),
    MenuItem("/me/transit", N_("Transit wallet")),
    MenuItem("/me/bank", N_("Bank account")),
    MenuItem("/me/ecard", N_("My e-card")),
    MenuItem("/me/medical", N_("Medical insurance")),
    MenuItem("/me/services", N_("HR services")),  # hrservices
    MenuItem("/me/pension", N_("Pension confirmation")),  # benefits (pension)
    MenuItem("/me/payments", N_("Benefit payments")),  # benefits (disbursement)
    MenuItem("/me/bills", N_("Bills and contributions")),  # bills
    MenuItem("/me/tickets", N_("Tickets and passes")),  # tourism
    MenuItem("/me/vouchers", N_("My vouchers")),  # discounts
    MenuItem("/me/library", N_("My library")),  # library
)
COUNTER_MENU = (
    MenuItem("/counter", N_("Counter")),
    MenuItem("/employer/batches", N_("Employer batch")),
    MenuItem("/counter/services", N_("HR services")),  # hrservices
    MenuItem("/counter/pension", N_("Pension confirmation")),  # benefits (pension)
)
AGENT_MENU = (
    MenuItem("/agent", N_("Caller's card")),
)
CENTRE_MENU = (
    MenuItem("/centre", N_("Dashboards")),
    MenuItem("/centre/audit", N_("Audit trail")),
    MenuItem("/centre/reference/outlets", N_("Reference data")),
)
EMPLOYER_MENU = (
    MenuItem("/employer/batches", N_("Employer batch")),
)
MEDICAL_INSTITUTION_MENU = (
    MenuItem("/medical/institution", N_("The institution's day")),
)
MEDICAL_OFFICE_MENU = (
    MenuItem("/medical/office/people", N_("Insured people")),
    MenuItem("/medical/office/day", N_("The fund's day")),
    MenuItem("/payee/bills", N_("Payments received")),  # bills: residents' contributions (CZ-MI)
)

# bills: a utility's or an office's payments received (bills/web.py)
PAYEE_MENU = (
    MenuItem("/payee/bills", N_("Payments received")),
)
# hrservices: the HR officer (人社经办) reviews cases
HR_OFFICER_MENU = (
    MenuItem("/hr/queue", N_("HR case queue")),
    MenuItem("/payee/bills", N_("Payments received")),  # bills: the exam office's fees
)

# benefits (pension): the paying office's pages; bnfcore's runs and payee lists join this menu
PAYING_OFFICE_MENU = (
    MenuItem("/office/runs", N_("Disbursement runs")),  # benefits (disbursement)
    MenuItem("/office/pension", N_("Pension confirmations")),
    MenuItem("/payee/bills", N_("Payments received")),  # bills: the office's payments received
)

# tourism: venue staff (tourism/web.py)
VENUE_MENU = (
    MenuItem("/venue", N_("Venue desk")),
)
# discounts: a campaign sponsor's campaigns, a merchant's till discounts (discounts/web.py)
SPONSOR_MENU = (
    MenuItem("/sponsor/campaigns", N_("Campaigns")),
)
MERCHANT_MENU = (
    MenuItem("/merchant/discounts", N_("Till discounts")),
)
# library: the librarian's desk (library/web.py)
LIBRARIAN_MENU = (
    MenuItem("/library/desk", N_("Library desk")),
)

MENUS: dict[Role, tuple[MenuItem, ...]] = {
    Role.HOLDER: HOLDER_MENU,
    Role.SS_OUTLET: COUNTER_MENU,
    Role.CITIZEN_OUTLET: COUNTER_MENU,
    Role.PHONE_AGENT: AGENT_MENU,
    Role.ADMIN: CENTRE_MENU,
    Role.EMPLOYER_AGENT: EMPLOYER_MENU,
    Role.MEDICAL_INSTITUTION: MEDICAL_INSTITUTION_MENU,
    Role.MEDICAL_OFFICE: MEDICAL_OFFICE_MENU,
    Role.HR_OFFICER: HR_OFFICER_MENU,  # hrservices
    Role.PAYING_OFFICE: PAYING_OFFICE_MENU,
    Role.BILLER: PAYEE_MENU,  # bills
    Role.VENUE_OPERATOR: VENUE_MENU,  # tourism
    Role.CAMPAIGN_SPONSOR: SPONSOR_MENU,  # discounts
    Role.MERCHANT: MERCHANT_MENU,  # discounts
    Role.LIBRARIAN: LIBRARIAN_MENU,  # library
}


def menu_of(actor: Actor | None) -> tuple[MenuItem, ...]:
    return _menu(actor.role) if actor is not None else ()


@cache
def _menu(role: Role) -> tuple[MenuItem, ...]:
    """The role's menu without the pages the access table refuses it (two roles may share a
    menu and not every page of it)."""
    return tuple(item for item in MENUS.get(role, ())
                 if role in (allowed_roles("GET", item.path) or ()))


def current_item(menu: tuple[MenuItem, ...], path: str) -> MenuItem | None:
    """The menu entry the page at `path` belongs to: the longest entry path it starts with
    (/centre/audit is under "Audit trail", not also under "Dashboards" at /centre)."""
    path = path.split("?", 1)[0]
    under = [item for item in menu if path == item.path or path.startswith(item.path + "/")]
    return max(under, key=lambda item: len(item.path), default=None)


def home_of(role: Role) -> str:
    """The first page of the role's menu; the site's front page for a role without pages
    (partner systems work through the API)."""
    menu = _menu(role)
    return menu[0].path if menu else "/"
