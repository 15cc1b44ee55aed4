"""Reference-data use cases: load at start-up, look up banks, outlets and hotlines.

Until `load_reference_data` has run on a database (a fresh test database, say) the lookups
answer from the packaged reference file, so a bank code is never refused just because the
start-up load has not happened yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from yikatong.core.actor import Actor
from yikatong.core.choices import echo
from yikatong.db.uow import UnitOfWork
from yikatong.directory.errors import UnknownBank, UnknownOutlet, UnknownOutletKind
from yikatong.directory.models import Bank, Outlet
from yikatong.directory.rules import (
    OUTLET_KINDS,
    BankView,
    OutletView,
    packaged_banks,
    packaged_outlets,
    service_hotlines,
)


@dataclass(frozen=True)
class LoadSummary:
    inserted: int
    updated: int

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated)


def load_reference_data(*, uow: UnitOfWork, actor: Actor) -> LoadSummary:
    """Insert or refresh the packaged banks and outlets; a second run changes nothing.

    Outlets added by operators (not in the file) are kept. Commits when something changed.
    """
    inserted = updated = 0
    for position, bank in enumerate(packaged_banks()):
        values = dict(name_zh=bank.name_zh, short_name_zh=bank.short_name_zh,
                      name_en=bank.name_en, hotline=bank.hotline, ecard_sync=bank.ecard_channel,
                      bin_prefixes=list(bank.bin_prefixes), position=position)
        i, u = _upsert(uow, Bank, bank.code, values)
        inserted, updated = inserted + i, updated + u
    for outlet in packaged_outlets():
        values = dict(kind=outlet.kind, name=outlet.name, district=outlet.district,
                      bank_code=outlet.bank_code)
        i, u = _upsert(uow, Outlet, outlet.code, values)
        inserted, updated = inserted + i, updated + u
    summary = LoadSummary(inserted=inserted, updated=updated)
    if summary.changed:
        uow.audit(actor=actor, action="directory.load_reference_data",
                  entity_type="reference_data", entity_id="directory",
                  after={"inserted": inserted, "updated": updated})
        uow.commit()
    return summary


def _upsert(uow: UnitOfWork, model, code: str, values: dict) -> tuple[int, int]:
    row = uow.session.get(model, code)
    if row is None:
        uow.session.add(model(code=code, **values))
        return 1, 0
    if all(getattr(row, name) == value for name, value in values.items()):
        return 0, 0
    for name, value in values.items():
        setattr(row, name, value)
    return 0, 1


def _loaded(uow: UnitOfWork, model) -> bool:
    return bool(uow.session.execute(select(func.count()).select_from(model)).scalar_one())


def _bank_view(row: Bank) -> BankView:
    return BankView(code=row.code, name_zh=row.name_zh, short_name_zh=row.short_name_zh,
                    name_en=row.name_en, hotline=row.hotline,
                    bin_prefixes=tuple(row.bin_prefixes), ecard_channel=row.ecard_sync)


def _outlet_view(row: Outlet) -> OutletView:
    return OutletView(code=row.code, kind=row.kind, name=row.name, district=row.district,
                      bank_code=row.bank_code)


def list_banks(*, uow: UnitOfWork) -> list[BankView]:
    """The 15 partner banks in the seed's order (四.10)."""
    if not _loaded(uow, Bank):
        return packaged_banks()
    rows = uow.session.execute(select(Bank).order_by(Bank.position)).scalars()
    return [_bank_view(row) for row in rows]


def get_bank(*, uow: UnitOfWork, bank_code: str) -> BankView:
    """One partner bank by code (ICBC, ABC, …); raises UnknownBank (422)."""
    # The row first: found, the table is loaded (one select where asking that first took two).
    row = uow.session.get(Bank, bank_code)
    if row is not None:
        return _bank_view(row)
    if not _loaded(uow, Bank):
        for bank in packaged_banks():
            if bank.code == bank_code:
                return bank
    codes = ([code for (code,) in uow.session.execute(select(Bank.code).order_by(Bank.position))]
             if _loaded(uow, Bank) else [bank.code for bank in packaged_banks()])
    raise UnknownBank(bank_code=echo(bank_code), allowed=codes)


def list_outlets(*, uow: UnitOfWork, kind: str | None = None) -> list[OutletView]:
    """Outlets, optionally of one kind (see rules.OUTLET_KINDS)."""
    if kind is not None and kind not in OUTLET_KINDS:
        raise UnknownOutletKind(kind=kind)
    if not _loaded(uow, Outlet):
        outlets = sorted(packaged_outlets(), key=lambda o: o.code)
    else:
        outlets = [_outlet_view(r) for r in
                   uow.session.execute(select(Outlet).order_by(Outlet.code)).scalars()]
    return [o for o in outlets if kind is None or o.kind == kind]


def get_outlet(*, uow: UnitOfWork, outlet_code: str) -> OutletView:
    """One outlet by code; raises UnknownOutlet (422)."""
    for outlet in list_outlets(uow=uow):
        if outlet.code == outlet_code:
            return outlet
    raise UnknownOutlet(outlet_code=outlet_code)


def hotlines() -> dict[str, dict[str, str]]:
    """The service hotlines: hr 12333, medical 12393, transit 0519-85175888."""
    return service_hotlines()


@dataclass(frozen=True)
class DirectoryVersion:
    """The directory keeps one version: the packaged reference file as last loaded (each load
    that changed the tables is audited), plus any outlet an operator added."""

    source: str
    loaded: bool            # False: the lookups answer from the packaged file itself
    last_load_at: datetime | None
    last_load_changes: dict | None


def directory_version(*, uow: UnitOfWork) -> DirectoryVersion:
    """The version in force, from the audit record of the last load that changed something."""
    from yikatong.audit.models import AuditRecord

    last = uow.session.execute(
        select(AuditRecord).where(AuditRecord.action == "directory.load_reference_data")
        .order_by(AuditRecord.id.desc()).limit(1)).scalar_one_or_none()
    return DirectoryVersion(
        source="reference_data.toml", loaded=_loaded(uow, Bank) or _loaded(uow, Outlet),
        last_load_at=last.at if last else None, last_load_changes=last.after if last else None)
