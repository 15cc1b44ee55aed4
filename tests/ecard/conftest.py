"""Helpers for the e-card tests: real applications and cards (through their services), a
holder who consents, sets the e-card password and shows QR codes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from tests.applications.conftest import OUTLET, new_applicant, pickup, walk_to_hand_over

from yikatong.applications import service as applications
from yikatong.core.actor import Actor, Channel, Role
from yikatong.crypto.protocols import KeyStore
from yikatong.ecard import service
from yikatong.ecard.models import Ecard
from yikatong.ecard.terminal import OfflineVerifier

PASSWORD = "739164"


@pytest.fixture(autouse=True)
def chip_directory(tmp_path, monkeypatch):
    """Chip images of the cards these tests produce go to a temporary folder."""
    monkeypatch.setenv("YKT_CHIP_DIR", str(tmp_path / "chips"))


@pytest.fixture(autouse=True)
def quick_argon2(request, monkeypatch):
    """argon2id with small costs (the production costs take ~0.2 s a hash on this machine);
    a test that asks for the `real_argon2` fixture keeps the production hasher."""
    if "real_argon2" not in request.fixturenames:
        monkeypatch.setattr(service, "_hasher",
                            PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def real_argon2() -> None:
    """Ask for this to hash with the production argon2 costs."""


@dataclass
class Holder:
    """One synthetic person with an application or a card, acting as the holder online."""

    platform: object
    person_id: int
    applicant: applications.ApplicantData
    application_id: int
    card_no: str | None = None

    @property
    def keys(self) -> KeyStore:
        return self.platform.get(KeyStore)

    @property
    def actor(self) -> Actor:
        return Actor(user_id=f"holder{self.person_id}", role=Role.HOLDER,
                     channel=Channel.ONLINE_APP, person_id=self.person_id)

    def ecard(self) -> service.EcardView:
        with self.platform.uow() as uow:
            return service.get_ecard(uow=uow, person_id=self.person_id)

    def channel(self, code: str) -> service.ChannelView:
        return next(c for c in self.ecard().channels if c.code == code)

    def do(self, operation, **kwargs):
        """A holder use case (it commits itself)."""
        with self.platform.uow() as uow:
            return operation(uow=uow, actor=self.actor, **kwargs)

    def grant(self, channel: str = "official_app"):
        return self.do(service.grant_consent, channel=channel, keys=self.keys)

    def withdraw(self, channel: str):
        return self.do(service.withdraw_consent, channel=channel, keys=self.keys)

    def set_password(self, password: str = PASSWORD, old: str | None = None):
        return self.do(service.set_password, new_password=password, old_password=old)

    def reauthorise(self, channel: str = "official_app", password: str = PASSWORD):
        return self.do(service.reauthorise, channel=channel, password=password, keys=self.keys)

    def qr(self, channel: str = "official_app", password: str | None = PASSWORD) -> str:
        return self.do(service.issue_qr, channel=channel, password=password,
                       keys=self.keys).token

    def card_op(self, operation, actor: Actor | None = None, **kwargs):
        """A cards use case on the holder's current card (the caller commits: done here)."""
        with self.platform.uow() as uow:
            result = operation(uow=uow, actor=actor or self.actor, card_no=self.card_no, **kwargs)
            uow.commit()
        return result


def submit(platform, applicant=None, choice=None) -> applications.ApplicationView:
    with platform.uow() as uow:
        return applications.submit_at_outlet(uow=uow, actor=OUTLET,
                                             applicant=applicant or new_applicant(),
                                             choice=choice or pickup())


@pytest.fixture
def applied(platform):
    """applied() → a Holder whose first application was just submitted (no card yet)."""

    def make(applicant=None) -> Holder:
        applicant = applicant or new_applicant()
        app = submit(platform, applicant)
        return Holder(platform, app.person_id, applicant, app.id)

    return make


@pytest.fixture
def holder(platform, applied):
    """holder() → a Holder with a card in hand, consent on the official app and a password."""

    def make(*, consent: tuple[str, ...] = ("official_app",), password: bool = True) -> Holder:
        person = applied()
        person.card_no = walk_to_hand_over(platform, person.application_id).card_no
        for channel in consent:
            person.grant(channel)
        if password:
            person.set_password()
        return person

    return make


def new_card_by_application(person: Holder, choice) -> str:
    """Apply for a replacement or exchange and walk it to hand-over; the new card number."""
    app = submit(person.platform, person.applicant, choice)
    return walk_to_hand_over(person.platform, app.id).card_no


def ecard_count(platform) -> int:
    with platform.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(Ecard)).scalar_one()


def status_lists(platform) -> list[dict]:
    with platform.uow() as uow:
        return [service.get_status_list(uow=uow, purpose=purpose,
                                        keys=platform.get(KeyStore)).credential
                for purpose in ("suspension", "revocation")]


def terminal(platform) -> OfflineVerifier:
    """An offline terminal that was given the public keys and the current status lists."""
    keys = {info.version: info.public_key_hex
            for info in service.public_keys(platform.get(KeyStore))}
    return OfflineVerifier(keys, status_lists(platform))


def verify(platform, token: str) -> service.Verification:
    with platform.uow() as uow:
        return service.verify_token(uow=uow, token=token, keys=platform.get(KeyStore))


def redeem(platform, token: str, business: str = "hospital_registration") -> service.Verification:
    counter = Actor(user_id="counter-1", role=Role.SS_OUTLET, channel=Channel.OUTLET,
                    branch_code="SS-TN-01")
    with platform.uow() as uow:
        return service.redeem_token(uow=uow, actor=counter, token=token, business=business,
                                    terminal_id="T-01", keys=platform.get(KeyStore))

