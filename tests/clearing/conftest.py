"""A small transit world for clearing tests: the platform's key store, a national clearing house
in a temporary exchange directory, emulated cards (ours and other cities'), validators, and
helpers that load cards, tap them and upload what the validators recorded."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from yikatong.chip import terminal
from yikatong.chip.host import LoadHost
from yikatong.chip.psam import Psam
from yikatong.clearing import (
    batches,
    day_review,
    fileformat,
    national_files,
    receive,
    reports,
    shadow_balances,
)
from yikatong.clearing.fileformat import BatchRecord, FileKind
from yikatong.clearing.models import ClearedRecord, ClearingBatch, ClearingException
from yikatong.clearing.national import NationalClearingHouse
from yikatong.clearing.simulation import (
    SimCard,
    new_card,
    post_cash_top_ups,
    record_at,
    terminal_file,
)
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import CST
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.protocols import KeyStore
from yikatong.ledger import service as ledger
from yikatong.ledger.errors import AccountNotFound
from yikatong.ledger.models import Journal
from yikatong.transit.fare_config import FareConfig
from yikatong.transit.validator import Place, Validator, bus, metro_entry, metro_exit

DAY = date(2026, 3, 2)
CZ = "3040"
CLEARING = Actor.system("clearing-tests")
_terminals = itertools.count(1)


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, second, tzinfo=CST)


def operator_actor(operator: str) -> Actor:
    return Actor(user_id=f"op-{operator}", role=Role.TRANSIT_OPERATOR, channel=Channel.PARTNER_API,
                 branch_code=operator)


@dataclass
class World:
    platform: object
    keystore: KeyStore
    house: NationalClearingHouse
    cards: dict[str, SimCard] = field(default_factory=dict)
    load_records: list = field(default_factory=list)  # our cards' loads, for the outlet's upload
    _numbers: itertools.count = field(default_factory=lambda: itertools.count(1))

    # -- cards ------------------------------------------------------------------------------

    def card(self, city: str = CZ, *, balance: int = 5000, algorithm: str = "SM4") -> SimCard:
        """A new card loaded with `balance` fen: ours through the load host (the cash posted to
        the float as the top-up service would), another city's by its own issuer."""
        card = new_card(next(self._numbers), city=city, day=DAY, keystore=self.keystore, house=self.house,
                        algorithm=algorithm)
        self.cards[card.asn] = card
        if balance:
            keys = self.keystore if card.own else self.house.issuer_keys(city, self.keystore)
            record = terminal.load(card.present(), LoadHost(keys), balance,
                                   bytes.fromhex(f"{city}10000001"), at(5, 30))
            if card.own:
                post_cash_top_ups(self.platform, [record])
                self.load_records.append(record)
            card.loaded += balance
        return card

    # -- terminals ------------------------------------------------------------------------------

    def validator(self, place: Place, fares: FareConfig | None = None) -> Validator:
        terminal_id = f"{place.city}{1 if place.mode == 'bus' else 2:02d}{next(_terminals):06d}"
        return Validator(Psam(self.keystore, terminal_id=bytes.fromhex(terminal_id)), place, fares=fares)

    def bus(self, line: str = "1", operator: str = "CZBUS", city: str = CZ, **kwargs) -> Validator:
        return self.validator(bus(city, line, operator), **kwargs)

    def gate_in(self, station: str) -> Validator:
        return self.validator(metro_entry(CZ, station, "CZMETRO"))

    def gate_out(self, station: str) -> Validator:
        return self.validator(metro_exit(CZ, station, "CZMETRO"))

    def tap(self, validator: Validator, card: SimCard, when: datetime):
        result = validator.tap(card.present(), when)
        assert result.accepted, result.refusal
        card.charged += result.amount
        return result

    # -- files ----------------------------------------------------------------------------------

    def records(self, validator: Validator) -> list[BatchRecord]:
        return [record_at(r, validator.place) for r in validator.drain()]

    def terminal_file(self, validator: Validator, records: list[BatchRecord] | None = None,
                      file_id: str | None = None) -> str:
        records = self.records(validator) if records is None else records
        return terminal_file(validator, records, file_id=file_id or f"{validator.terminal_id}-{next(_terminals):04d}",
                             created=at(23))

    def upload(self, content: str | bytes, actor: Actor | None = None) -> batches.BatchResult:
        if actor is None:
            header = fileformat.parse(content).header
            actor = operator_actor(header.operator) if header.kind is FileKind.TERMINAL else CLEARING
        return receive.upload_batch(platform=self.platform, actor=actor, content=content)

    def upload_loads(self) -> batches.BatchResult:
        """The outlet's load terminal uploads our cards' top-ups (for the shadow balances)."""
        records = [fileformat.record_of(r, city=CZ, operator="SMKOUTLET") for r in self.load_records]
        self.load_records = []
        content = fileformat.render_records(FileKind.TERMINAL, f"LOADS-{next(_terminals):04d}", "304010000001",
                                            records, created=at(23), operator="SMKOUTLET",
                                            terminal_id="304010000001")
        return self.upload(content, CLEARING)

    def exchange_with_house(self) -> tuple[batches.BatchResult | None, batches.BatchResult | None]:
        """(our cards' records from elsewhere, the house's verdicts on other issuers' cards)."""
        incoming = outgoing = None
        path = self.house.send()
        if path is not None:
            incoming = self.upload(path.read_bytes(), CLEARING)
            ack = self.house.directory / "ack.txt"
            with self.platform.uow() as uow:
                ack.write_text(national_files.file_content(uow=uow, file_id=incoming.acknowledgement), encoding="utf-8")
            self.house.receive_ack(ack)
        with self.platform.uow() as uow:
            file_id = national_files.export_national(uow=uow, actor=CLEARING)
            uow.commit()
        if file_id is not None:
            sent = self.house.directory / f"{file_id}.txt"
            with self.platform.uow() as uow:
                sent.write_text(national_files.file_content(uow=uow, file_id=file_id), encoding="utf-8")
            outgoing = self.upload(self.house.receive(sent).read_bytes(), CLEARING)
        return incoming, outgoing

    def review(self, day: date = DAY, processes: int = 1) -> day_review.ReviewResult:
        with self.platform.uow() as uow:
            result = day_review.review_day(uow=uow, actor=CLEARING, day=day, fares=receive.fares_of(self.platform),
                                        processes=processes)
            uow.commit()
        return result

    # -- looking -----------------------------------------------------------------------------

    def exceptions(self, reason: str | None = None, *, open_only: bool = True):
        with self.platform.uow() as uow:
            return reports.list_exceptions(uow=uow, reason=reason, open_only=open_only)

    def shadow(self, card: SimCard) -> int | None:
        with self.platform.uow() as uow:
            return shadow_balances.shadow_balance(uow=uow, asn=card.asn)

    def account(self, code: str) -> int:
        with self.platform.uow() as uow:
            try:
                return ledger.balance(uow=uow, code=code)
            except AccountNotFound:  # never opened: nothing was posted to it
                return 0

    def trial_balance(self):
        with self.platform.uow() as uow:
            return ledger.trial_balance(uow=uow)

    def counts(self) -> tuple[int, int, int, int]:
        """(files, records, exceptions, journals): what a refused upload must leave alone."""
        with self.platform.uow() as uow:
            return tuple(uow.session.execute(select(func.count()).select_from(model)).scalar_one()
                         for model in (ClearingBatch, ClearedRecord, ClearingException, Journal))


@pytest.fixture(scope="session")
def keystore() -> InMemoryKeyStore:
    return InMemoryKeyStore(seed=b"clearing-tests")


@pytest.fixture
def world(platform, keystore, tmp_path, clock) -> World:
    platform.provide(KeyStore, keystore)
    return World(platform, keystore, NationalClearingHouse(tmp_path / "national", clock=clock))


def later(when: datetime, **delta) -> datetime:
    return when + timedelta(**delta)

