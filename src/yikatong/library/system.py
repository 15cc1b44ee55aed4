"""The reference library system behind library.protocols.LibrarySystem: each call one unit
of work over the library tables (library.service does the work). A real integrated library
system can stand behind the same protocol instead (register it on the platform)."""

from __future__ import annotations

from datetime import datetime

from yikatong.core.actor import Actor, Channel, Role
from yikatong.library import service
from yikatong.library.protocols import Item, LibraryOutcome, PatronAccount


class ReferenceLibrarySystem:
    """LibrarySystem for one library (its loan rules from config); `actor` is who the changes
    are audited as (the kiosk gateway by default)."""

    def __init__(self, platform, *, library_code: str | None = None,
                 actor: Actor | None = None) -> None:
        self._platform = platform
        self.library_code = library_code
        self.actor = actor or Actor(user_id="library.sip2", role=Role.SYSTEM,
                                    channel=Channel.LIBRARY, branch_code=library_code)

    def account(self, reader_no: str, *, now: datetime) -> PatronAccount:
        with self._platform.uow(read_only=True) as uow:
            return service.account(uow=uow, reader_no=reader_no, now=now,
                                   library_code=self.library_code)

    def item(self, barcode: str) -> Item | None:
        with self._platform.uow(read_only=True) as uow:
            return service.item(uow=uow, barcode=barcode)

    def checkout(self, reader_no: str, barcode: str, *, now: datetime,
                 presented: str = "reader_no", card_no: str | None = None) -> LibraryOutcome:
        with self._platform.uow() as uow:
            return service.checkout(uow=uow, actor=self.actor, reader_no=reader_no,
                                    barcode=barcode, now=now, presented=presented,
                                    card_no=card_no, library_code=self.library_code)

    def checkin(self, barcode: str, *, now: datetime, location: str = "") -> LibraryOutcome:
        with self._platform.uow() as uow:
            return service.checkin(uow=uow, actor=self.actor, barcode=barcode, now=now,
                                   location=location, library_code=self.library_code)

    def renew(self, reader_no: str, barcode: str, *, now: datetime) -> LibraryOutcome:
        with self._platform.uow() as uow:
            return service.renew(uow=uow, actor=self.actor, reader_no=reader_no,
                                 barcode=barcode, now=now, library_code=self.library_code)

    def place_hold(self, reader_no: str, barcode: str, *, now: datetime) -> LibraryOutcome:
        with self._platform.uow() as uow:
            return service.place_hold(uow=uow, actor=self.actor, reader_no=reader_no,
                                      barcode=barcode, now=now, library_code=self.library_code)

    def pay_fee(self, reader_no: str, amount_fen: int, *, now: datetime,
                fee_id: str | None = None, transaction_id: str = "") -> LibraryOutcome:
        with self._platform.uow() as uow:
            return service.pay_fee(uow=uow, actor=self.actor, reader_no=reader_no,
                                   amount_fen=amount_fen, now=now, fee_id=fee_id,
                                   transaction_id=transaction_id)
