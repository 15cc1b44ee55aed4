"""What `ykt serve` does before it listens: migrate, reference data, demo logins."""

from __future__ import annotations

import importlib

from sqlalchemy import select

from yikatong.auth.models import User
from yikatong.auth.service import create_user
from yikatong.core.actor import Actor, Role
from yikatong.db.migrate import upgrade

# Development logins printed by `make run`; never used outside a demo database.
DEMO_PASSWORD = "demo-pass-2026"
DEMO_USERS = [
    ("admin", Role.ADMIN, {}),
    ("outlet", Role.SS_OUTLET, {"branch_code": "SS-TN-01"}),
    ("citizen-outlet", Role.CITIZEN_OUTLET, {"branch_code": "SMK-DIRECT-01"}),
    ("agent12333", Role.PHONE_AGENT, {}),
    ("employer", Role.EMPLOYER_AGENT, {}),
    ("icbc", Role.BANK, {"bank_code": "ICBC", "branch_code": "ICBC-CZ-001"}),
    ("transit", Role.TRANSIT_OPERATOR, {"branch_code": "CZBUS"}),   # the bus company
    ("metro", Role.TRANSIT_OPERATOR, {"branch_code": "CZMETRO"}),   # the metro company
]

# Reference-data loaders other domains offer, called in this order if present.
REFERENCE_LOADERS = ["yikatong.directory.service:load_reference_data"]


def prepare(platform) -> dict[str, str]:
    """Bring the database to head, load reference data, ensure the demo logins."""
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
    with platform.uow() as uow:
        existing = set(uow.session.execute(select(User.username)).scalars())
        for username, role, fields in DEMO_USERS:
            if username not in existing:
                create_user(uow=uow, actor=actor, username=username, password=DEMO_PASSWORD,
                            role=role, **fields)
        uow.commit()
    return {username: DEMO_PASSWORD for username, _, _ in DEMO_USERS}
