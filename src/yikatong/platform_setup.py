"""What `ykt serve` does before it listens: migrate, reference data, and in development mode
only, the demo logins."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from sqlalchemy import select

from yikatong.auth.models import User
from yikatong.auth.service import create_user
from yikatong.core.actor import Actor, Role
from yikatong.db.migrate import upgrade

# Development logins printed by `make run`; created only in development mode, and a production
# start refuses a database holding any of them (yikatong.startup).
DEMO_PASSWORD = "Tianning-lantern-demo-47"
DEMO_USERS = [
    ("admin", Role.ADMIN, {}),
    ("outlet", Role.SS_OUTLET, {"branch_code": "SS-TN-01"}),
    ("citizen-outlet", Role.CITIZEN_OUTLET, {"branch_code": "SMK-DIRECT-01"}),
    ("agent12333", Role.PHONE_AGENT, {}),
    # an employer agent acts for one employer, named by its unified social credit code
    ("employer", Role.EMPLOYER_AGENT, {"employer_uscc": "91320411MA1Q2W3E4F"}),
    ("icbc", Role.BANK, {"bank_code": "ICBC", "branch_code": "ICBC-CZ-001"}),
    ("transit", Role.TRANSIT_OPERATOR, {"branch_code": "CZBUS"}),   # the bus company
    ("metro", Role.TRANSIT_OPERATOR, {"branch_code": "CZMETRO"}),   # the metro company
    ("medical-office", Role.MEDICAL_OFFICE, {}),
    # a designated Level 3 hospital, named by its fixmedins_code
    ("hospital", Role.MEDICAL_INSTITUTION, {"branch_code": "H32040200001"}),
    # the social insurance agency, paying pensions, unemployment and work-injury money
    ("paying-office", Role.PAYING_OFFICE, {"branch_code": "CZ-SI"}),
    ("hr-officer", Role.HR_OFFICER, {}),
    ("water", Role.BILLER, {"branch_code": "CZ-WATER"}),  # the city's water company
    # 环球恐龙城's operator (its venues: 中华恐龙园 …), the city library, a shop in a campaign,
    # and the city's HR and social security bureau as the sponsor of the city's campaigns
    ("venue", Role.VENUE_OPERATOR, {"branch_code": "CZ-DINO"}),
    ("librarian", Role.LIBRARIAN, {"branch_code": "CZLIB"}),
    ("merchant", Role.MERCHANT, {"branch_code": "M-CZ-0001"}),
    ("sponsor", Role.CAMPAIGN_SPONSOR, {"branch_code": "CZ-HRSS"}),
]

# Reference-data loaders other domains offer, called in this order if present.
REFERENCE_LOADERS = ["yikatong.directory.service:load_reference_data",
                     "yikatong.medical.service:load_reference_data",
                     "yikatong.benefits.service:load_reference_data",  # benefits: programmes
                     "yikatong.bills.service:load_reference_data",  # bills: the reference exams
                     "yikatong.tourism.service:load_reference_data",  # tourism: venues, products
                     "yikatong.discounts.service:load_reference_data",  # discounts: reference campaigns
                     "yikatong.library.service:load_reference_data"]  # library: the demo items


@dataclass(frozen=True)
class DemoLogins:
    credentials: dict[str, str]  # every demo login (username → password); empty in production
    created: tuple[str, ...]     # the ones this start created


def prepare(platform) -> DemoLogins:
    """Bring the database to head, load reference data and, in development mode only, ensure
    the demo logins."""
    upgrade(platform.engine)
    actor = Actor.system("setup")
    for spec in REFERENCE_LOADERS:
        module_name, _, function_name = spec.partition(":")
        try:
            loader = getattr(importlib.import_module(module_name), function_name)
        except (ModuleNotFoundError, AttributeError):
            continue
        with platform.uow() as uow:
            loader(uow=uow, actor=actor)
            uow.commit()
    if platform.settings.is_production:
        return DemoLogins(credentials={}, created=())
    created = create_demo_logins(platform)
    return DemoLogins(credentials={username: DEMO_PASSWORD for username, _, _ in DEMO_USERS},
                      created=tuple(created))


def create_demo_logins(platform) -> dict[str, str]:
    """The demo logins missing from the database (development mode only); returns those created."""
    if platform.settings.is_production:
        raise RuntimeError("demo logins are never created in production")
    created = {}
    with platform.uow() as uow:
        existing = set(uow.session.execute(select(User.username)).scalars())
        for username, role, fields in DEMO_USERS:
            if username not in existing:
                create_user(uow=uow, actor=Actor.system("setup"), username=username,
                            password=DEMO_PASSWORD, role=role, **fields)
                created[username] = DEMO_PASSWORD
        uow.commit()
    return created


def is_demo_username(username: str) -> bool:
    return any(username == name for name, _, _ in DEMO_USERS)
