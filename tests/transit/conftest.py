"""Fixtures for the wallet tests: emulated cards registered in the card registry, actors per
top-up channel, validators, and the books-balance check every scenario ends with."""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from datetime import date
from importlib import resources

import pytest

from yikatong.applications.rules import luhn_complete
from yikatong.cards import service as cards
from yikatong.chip.emulator import Card
from yikatong.chip.image import CardPersonalisation, personalise
from yikatong.chip.psam import Psam
from yikatong.chip.reader import EmulatorReader
from yikatong.core.actor import Actor, Channel, Role
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.protocols import KeyStore
from yikatong.ledger import service as ledger
from yikatong.transit.fare_config import DEFAULT_CONFIG_FILE, FareConfig, fare_config_from_dict
from yikatong.transit.protocols import Payer, PayerKind

COUNTER = Actor(user_id="smk-clerk", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
                branch_code="SMK-DIRECT-01", account_id=9001)
MACHINE = Actor(user_id="smk-machine-07", role=Role.CITIZEN_OUTLET, channel=Channel.SELF_SERVICE,
                branch_code="SMK-DIRECT-02", account_id=9002)
PARTNER_COUNTER = Actor(user_id="partner-clerk", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
                        branch_code="SMK-PARTNER-01", account_id=9003)
SS_COUNTER = Actor(user_id="ss-clerk", role=Role.SS_OUTLET, channel=Channel.OUTLET, branch_code="SS-TN-01",
                   account_id=9004)
SYSTEM = Actor.system("transit-tests")


def phone(person_id: int = 1) -> Actor:
    return Actor(user_id=f"holder-{person_id}", role=Role.HOLDER, channel=Channel.ONLINE_APP,
                 person_id=person_id, account_id=10_000 + person_id)  # the login owns its contacts


CASH = Payer(PayerKind.CASH, "till SMK-DIRECT-01")
BANK_CARD = Payer(PayerKind.BANK_CARD, "6222****0042")
E_WALLET = Payer(PayerKind.E_WALLET, "wx-order-778899")
_serial = itertools.count(1)


@dataclass
class TestCard:
    card_no: str
    asn: str
    chip: Card
    reader: EmulatorReader
    person_id: int

    def present(self) -> EmulatorReader:
        """Hold the card to a reader again (power up after a tear or a removal)."""
        self.reader.insert(self.chip)
        self.reader.connect()
        return self.reader

    @property
    def balance(self) -> int:
        return _purse_state(self.chip).balance

    @property
    def online_counter(self) -> int:
        return _purse_state(self.chip).online_counter


def _purse_state(chip: Card):
    for df in chip.mf.walk():
        if df.purse is not None:
            return df.purse
    raise AssertionError("no purse on the chip")


@pytest.fixture(scope="session")
def keystore() -> InMemoryKeyStore:
    return InMemoryKeyStore(seed=b"transit-tests")


@pytest.fixture
def wallet_platform(platform, keystore):
    platform.provide(KeyStore, keystore)
    return platform


@pytest.fixture(autouse=True)
def books_balance_after_every_scenario(request):
    """Whatever a wallet scenario did, the ledger's debits equal its credits at the end."""
    platform = request.getfixturevalue("wallet_platform") if "wallet_platform" in request.fixturenames else None
    yield
    if platform is not None:
        assert_books_balance(platform)


@pytest.fixture
def make_card(wallet_platform, keystore):
    """make_card(register=True, algorithm="SM4", wrapping_counters=False, **personalisation) ->
    TestCard; registered cards are in use in the card registry (a person, a bank account) with
    the chip's ASN. `wrapping_counters`: a card variant whose counters wrap at FFFF."""

    def make(*, register: bool = True, algorithm: str = "SM4", person_id: int | None = None,
             wrapping_counters: bool = False, **fields) -> TestCard:
        n = next(_serial)
        data = CardPersonalisation(**{
            "card_no": f"T{n:08d}", "card_id_code": f"320400D156000005C320{n:012d}", "ssn": "320402199001011234",
            "name": "测试乙", "gender": "2", "nation": "01", "birthplace": "320402", "birth_date": date(1985, 5, 5),
            "issue_date": date(2026, 3, 1), "expiry_date": date(2036, 3, 1), "region_code": "320400",
            "pan": luhn_complete(f"621226{n:09d}"), "pan_sequence": 1, "pan_expiry": date(2036, 3, 31),
            "asn": f"0310400000{n:010d}", "purse_algorithm": algorithm, **fields,
        })
        person_id = person_id or 1000 + n
        if register:
            with wallet_platform.uow() as uow:
                cards.register_produced_card(
                    uow=uow, actor=SYSTEM, application_id=None, person_id=person_id, kind="first",
                    bank_code="ICBC", card_no=data.card_no, card_id_code=data.card_id_code,
                    chip_serial=f"CHIP{n:012d}", pan=data.pan, asn=data.asn, issue_date=data.issue_date)
                uow.commit()
            with wallet_platform.uow() as uow:
                cards.hand_over(uow=uow, actor=SS_COUNTER, card_no=data.card_no)
                uow.commit()
        chip = Card(personalise(data, keystore), wrapping_counters=wrapping_counters)
        reader = EmulatorReader(chip)
        reader.connect()
        return TestCard(data.card_no, data.asn, chip, reader, person_id)

    return make


def books(platform) -> ledger.TrialBalance:
    with platform.uow() as uow:
        return ledger.trial_balance(uow=uow)


def assert_books_balance(platform) -> ledger.TrialBalance:
    trial = books(platform)
    assert trial.balanced, trial
    assert trial.total_debits == trial.total_credits
    return trial


def account(platform, code: str) -> int:
    with platform.uow() as uow:
        try:
            return ledger.balance(uow=uow, code=code)
        except Exception:  # not opened yet: nothing was ever posted to it
            return 0


def psam(keystore, terminal_id: str) -> Psam:
    return Psam(keystore, terminal_id=bytes.fromhex(terminal_id))


def fares_with(**gates) -> FareConfig:
    """The packaged fare configuration with other metro gate rules (e.g. an entry deposit)."""
    text = resources.files("yikatong.transit").joinpath("config", DEFAULT_CONFIG_FILE).read_text("utf-8")
    data = tomllib.loads(text)
    data["metros"]["3040"]["gates"].update(gates)
    return fare_config_from_dict(data)


# --- a card made the way production makes it ---------------------------------------------------


def approved_applicant(platform, born: date) -> int:
    """A new applicant born on `born`, applied and approved at an outlet; their person id."""
    from tests.applications.conftest import OUTLET, new_applicant, pickup
    from yikatong.applications import service as applications

    with platform.uow() as uow:
        application = applications.submit_at_outlet(uow=uow, actor=OUTLET, applicant=new_applicant(birth=born),
                                                    choice=pickup(), agent=None, idempotency_key=None)
    with platform.uow() as uow:
        applications.approve(uow=uow, actor=OUTLET, application_id=application.id)
    return application.person_id


def produced_card(platform) -> EmulatorReader:
    """Run production (the one approved application waiting) and connect to the chip it made."""
    from tests.applications.conftest import ADMIN
    from yikatong.applications import production
    from yikatong.applications.protocols import CardFactory
    from yikatong.chip.protocols import ChipStore

    outcome = production.run_production(uows=platform.uow, actor=ADMIN, factory=platform.get(CardFactory),
                                        personalise=production.chip_personaliser(platform))
    [card_no] = outcome.produced_card_nos
    reader = EmulatorReader(platform.get(ChipStore).load(card_no))
    reader.connect()
    return reader
