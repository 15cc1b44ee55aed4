"""Gates end to end through the API: a day ticket paid from the transit wallet at the venue's
terminal (purchase cleared to the venue operator, sale recorded with the purchase's reference),
the signed allow-list fetched, the card tapped at an offline gate, the entry uploaded; a lost
card refused once the gate refreshes its list while the replacement keeps the pass; online
admission."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date

import pytest

from tests.tourism.conftest import ADMIN, holder, load_venues, person_born
from yikatong.applications.rules import luhn_complete
from yikatong.cards import service as cards
from yikatong.chip import terminal
from yikatong.chip.emulator import Card
from yikatong.chip.host import LoadHost
from yikatong.chip.image import CardPersonalisation, personalise
from yikatong.chip.psam import Psam
from yikatong.chip.reader import EmulatorReader
from yikatong.clearing.rules import operator_payable
from yikatong.clearing.simulation import post_cash_top_ups
from yikatong.core.actor import Actor, Channel, Role
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.protocols import KeyStore
from yikatong.tourism import service
from yikatong.tourism.gate import Gate, GateRefusal
from yikatong.tourism.protocols import Ground
from yikatong.tourism.terminal import VenueTerminal

KEYS = InMemoryKeyStore(seed=b"gate-flow-tests")
API = "/api/v1/tourism/gates"
ADMIT = "/api/v1/tourism/venues/DINO/admit"  # the tourism API's online admission
COUNTER = Actor(user_id="ss-clerk", role=Role.SS_OUTLET, channel=Channel.OUTLET, branch_code="SS-TN-01")
_serial = itertools.count(1)


@dataclass
class HeldCard:
    card_no: str
    person_id: int
    reader: EmulatorReader

    def present(self) -> EmulatorReader:
        self.reader.connect()
        return self.reader


def ssn_of(platform, person_id: int) -> str:
    from yikatong.people.models import Person

    with platform.uow() as uow:
        return uow.session.get(Person, person_id).ssn


def issue_card(platform, person_id: int, *, balance: int = 0, replaces: str | None = None,
               ssn: str = "320402199001011234", issued: date = date(2026, 3, 1)) -> HeldCard:
    """A card of the person registered and handed over, its chip under KEYS (issued on
    `issued`, expiring ten years later), loaded with `balance` fen (the cash posted to the
    float, as the top-up service would)."""
    n = next(_serial)
    data = CardPersonalisation(
        card_no=f"GF{n:07d}", card_id_code=f"320400D156000005C320{500000 + n:012d}", ssn=ssn,
        name="测试游客", gender="1", nation="01", birthplace="320402", birth_date=date(1990, 1, 1),
        issue_date=issued, expiry_date=issued.replace(year=issued.year + 10), region_code="320400",
        pan=luhn_complete(f"621226{700000 + n:09d}"), pan_sequence=1, pan_expiry=date(2036, 3, 31),
        asn=f"0310400000{900000 + n:010d}", purse_algorithm="SM4")
    with platform.uow() as uow:
        cards.register_produced_card(uow=uow, actor=ADMIN, application_id=None, person_id=person_id,
                                     kind="replacement" if replaces else "first", predecessor_card_no=replaces,
                                     bank_code="ICBC", card_no=data.card_no, card_id_code=data.card_id_code,
                                     chip_serial=f"GFCHIP{n:08d}", pan=data.pan, asn=data.asn,
                                     issue_date=data.issue_date)
        uow.commit()
    with platform.uow() as uow:
        cards.hand_over(uow=uow, actor=COUNTER, card_no=data.card_no)
        uow.commit()
    reader = EmulatorReader(Card(personalise(data, KEYS)))
    reader.connect()
    if balance:
        load = terminal.load(reader, LoadHost(KEYS), balance, bytes.fromhex("304010000001"), platform.clock.now())
        post_cash_top_ups(platform, [load])
    return HeldCard(data.card_no, person_id, reader)


def gate_for(venue: str = "DINO", gate_id: str = "DINO-G1") -> Gate:
    return Gate(gate_id, venue, {1: KEYS.sm2_public_key()},
                psam=Psam(KEYS, terminal_id=bytes.fromhex("304090000001")))


def purchase_json(record) -> dict:
    return {"asn": record.asn, "issuer_id": record.issuer_id, "terminal_id": record.terminal_id,
            "terminal_serial": record.terminal_serial, "tx_type": record.tx_type, "amount": record.amount,
            "balance_after": record.balance_after, "counter": record.counter, "when": record.when.isoformat(),
            "tac": record.tac, "key_version": record.key_version, "alg_id": record.alg_id}


def entry_json(entry) -> dict:
    return {"entry_id": entry.entry_id, "gate_id": entry.gate_id, "person_id": entry.person_id,
            "card_no": entry.card_no, "presented": str(entry.presented), "ground": str(entry.ground),
            "reference": entry.reference, "at": entry.at.isoformat(), "offline": entry.offline}


@pytest.fixture
def venues(platform):
    platform.provide(KeyStore, KEYS)
    load_venues(platform)
    return platform


@pytest.mark.db
def test_a_wallet_ticket_opens_an_offline_gate_and_everything_is_cleared_and_recorded(venues, client, login, clock):
    staff = login(Role.VENUE_OPERATOR, branch_code="CZ-DINO")
    visitor = issue_card(venues, person_born(venues, date(1990, 1, 1)), balance=30_000)
    till = VenueTerminal(Psam(KEYS, terminal_id=bytes.fromhex("304070000001")), venue_code="DINO",
                         operator_code="CZ-DINO")
    paid = till.charge(visitor.present(), 26_000, clock.now())
    assert paid.paid

    sale = {"product_code": "DINO-DAY", "slot": "09:00-12:00", "purchase": purchase_json(paid.record)}
    sold = client.post(f"{API}/DINO/wallet-sales", json=sale, headers=staff)
    assert sold.status_code == 201, sold.text
    ticket = sold.json()
    assert ticket["person_id"] == visitor.person_id and ticket["purchase_reference"] == paid.reference
    assert client.post(f"{API}/DINO/wallet-sales", json=sale, headers=staff).json()["ticket_no"] == ticket["ticket_no"]
    forged = {**sale, "purchase": {**sale["purchase"], "amount": 100}}
    assert client.post(f"{API}/DINO/wallet-sales", json=forged, headers=staff).status_code == 422

    cleared = client.post(f"{API}/DINO/purchases", content=till.clearing_file("DINO-T1-0001", created=clock.now()),
                          headers={**staff, "Content-Type": "text/plain"})
    assert cleared.status_code == 201, cleared.text
    assert (cleared.json()["cleared"], cleared.json()["settled_amount"]) == (1, 26_000)
    with venues.uow() as uow:
        from yikatong.ledger import service as ledger

        assert abs(ledger.balance(uow=uow, code=operator_payable("3040", "CZDINO"))) == 26_000
    other = client.post(f"{API}/TMH/purchases", content=till.clearing_file("DINO-T1-0002", created=clock.now()),
                        headers={**staff, "Content-Type": "text/plain"})
    assert other.status_code == 404  # another operator's venue

    listed = client.get(f"{API}/DINO/allow-list", headers=staff)
    assert listed.status_code == 200
    unchanged = client.get(f"{API}/DINO/allow-list", headers={**staff, "If-None-Match": listed.headers["ETag"]})
    assert unchanged.status_code == 304
    gate = gate_for()
    assert gate.take(listed.json(), now=clock.now())
    entered = gate.tap(visitor.present(), clock.now())
    assert entered.admitted and entered.entry.ground is Ground.TICKET
    assert entered.entry.reference == ticket["ticket_no"]
    assert gate.tap(visitor.present(), clock.now()).refusal is GateRefusal.ALREADY_ENTERED

    upload = {"entries": [entry_json(e) for e in gate.drain()]}
    first = client.post(f"{API}/DINO/entries", json=upload, headers=staff)
    assert first.status_code == 200, first.text
    assert first.json()["recorded"] == [entered.entry.entry_id] and first.json()["exceptions"] == {}
    assert client.post(f"{API}/DINO/entries", json=upload, headers=staff).json()["duplicates"] == [
        entered.entry.entry_id]


@pytest.mark.db
def test_a_lost_card_is_refused_after_the_refresh_and_the_replacement_keeps_the_pass(venues, client, login, clock):
    staff = login(Role.VENUE_OPERATOR, branch_code="CZ-DINO")
    person = person_born(venues, date(1990, 1, 1))
    old = issue_card(venues, person)
    with venues.uow() as uow:
        service.sell(uow=uow, actor=ADMIN, product_code="CZ-PASS-228", person_id=person,
                     idempotency_key="pass-1", payment="wallet", purchase_reference="TU-TEST-PASS-1")
    gate = gate_for()
    assert gate.take(client.get(f"{API}/DINO/allow-list", headers=staff).json(), now=clock.now())
    assert gate.decide_card(old.card_no, clock.now()).admitted  # the pass (first entry activates it)
    gate.drain()

    with venues.uow() as uow:
        cards.report_loss(uow=uow, actor=holder(person), card_no=old.card_no, kind="formal")
        uow.commit()
    new = issue_card(venues, person, replaces=old.card_no)
    clock.advance(minutes=5)
    refreshed = client.get(f"{API}/DINO/allow-list", headers=staff).json()
    assert refreshed["refused"].get(old.card_no) in ("formal_loss", "retired")
    other_gate = gate_for(gate_id="DINO-G2")  # a gate that has not let the person in today
    assert other_gate.take(refreshed, now=clock.now())
    assert other_gate.decide_card(old.card_no, clock.now()).refusal is GateRefusal.CARD_BLOCKED
    assert gate.take(refreshed, now=clock.now())
    assert gate.decide_card(old.card_no, clock.now()).refusal is GateRefusal.CARD_BLOCKED
    assert other_gate.tap(new.present(), clock.now()).admitted  # the replacement carries the pass


@pytest.mark.db
def test_online_admission_records_the_entry_at_once(venues, client, login, clock):
    staff = login(Role.VENUE_OPERATOR, branch_code="CZ-DINO")
    visitor = issue_card(venues, person_born(venues, date(1990, 1, 1)))
    with venues.uow() as uow:
        service.sell(uow=uow, actor=ADMIN, product_code="CZ-PASS-228", person_id=visitor.person_id,
                     idempotency_key="pass-2", payment="wallet", purchase_reference="TU-TEST-PASS-2")
    ask = {"gate_id": "DINO-G9", "entry_id": "DINO-G9-00000001", "card_no": visitor.card_no}
    first = client.post(ADMIT, json=ask, headers=staff)
    assert first.status_code == 200, first.text
    assert first.json()["admitted"] and first.json()["ground"] == "pass"
    again = client.post(ADMIT, json={**ask, "entry_id": "DINO-G9-00000002"}, headers=staff)
    assert not again.json()["admitted"]
    gate = gate_for()  # an offline gate that refreshes after the online entry counts the pass as used today
    listed = client.get(f"{API}/DINO/allow-list", headers=staff).json()
    assert [visitor.person_id, "pass", first.json()["reference"]] in listed["entered"]
    assert gate.take(listed, now=clock.now())
    assert gate.decide_card(visitor.card_no, clock.now()).refusal is GateRefusal.ALREADY_ENTERED


@pytest.mark.db
def test_an_ecard_code_opens_the_offline_gate_with_the_platforms_status_lists(venues, client, login, clock):
    import secrets
    from datetime import timedelta

    from yikatong.crypto.sm2 import Sm2Signer
    from yikatong.ecard.models import Ecard
    from yikatong.ecard.tokens import TokenClaims, issue_token

    staff = login(Role.VENUE_OPERATOR, branch_code="CZ-DINO")
    person = person_born(venues, date(1990, 1, 1))
    issue_card(venues, person)
    with venues.uow() as uow:  # the e-card the hand-over made (the e-card's consumer of its event)
        ecard = uow.session.query(Ecard).filter(Ecard.live_person_id == person).one()
        ecard_no, status_index = ecard.ecard_no, ecard.status_index
    with venues.uow() as uow:
        service.sell(uow=uow, actor=ADMIN, product_code="CZ-PASS-228", person_id=person,
                     idempotency_key="pass-3", payment="wallet", purchase_reference="TU-TEST-PASS-3")
    listed = client.get(f"{API}/DINO/allow-list", headers=staff).json()
    assert any(e["person"] == person and e["ecard"] == ecard_no for e in listed["entries"])
    gate = gate_for()
    assert gate.take(listed, now=clock.now())
    lists = [client.get(f"/api/v1/ecard/status/{purpose}").json() for purpose in ("suspension", "revocation")]
    assert gate.refresh_status_lists(lists, now=clock.now()) == 2
    key = KEYS.get("ecard_signing")
    code = issue_token(Sm2Signer(key.key), TokenClaims(
        key_version=key.version, status_index=status_index, ecard_no=int(ecard_no), issued_at=clock.now(),
        valid_for=timedelta(seconds=60), nonce=secrets.token_bytes(8)))
    decision = gate.scan(code, clock.now())
    assert decision.admitted and decision.entry.person_id == person and decision.entry.presented == "ecard"


@pytest.mark.db
def test_a_senior_enters_free_offline_from_the_chip_once_a_day_and_a_lost_card_is_refused_after_refresh(
        venues, client, login, clock):
    import json

    staff = login(Role.VENUE_OPERATOR, branch_code="CZ-DINO")
    senior_id = person_born(venues, date(1950, 1, 1), name="老游客")
    senior = issue_card(venues, senior_id, ssn=ssn_of(venues, senior_id))
    adult_id = person_born(venues, date(1990, 1, 1))
    adult = issue_card(venues, adult_id, ssn=ssn_of(venues, adult_id))
    listed = client.get(f"{API}/DINO/allow-list", headers=staff).json()
    # the venue's rule is in the list, not its seniors
    assert [c["code"] for c in listed["free"]] == ["senior", "child"] and listed["entries"] == []
    assert senior.card_no not in json.dumps(listed)
    gate = gate_for()
    assert gate.take(listed, now=clock.now())
    first = gate.tap(senior.present(), clock.now())  # the birth date in the SSN read from the chip
    assert first.admitted and first.entry.ground is Ground.FREE and first.entry.reference == "senior"
    assert gate.tap(senior.present(), clock.now()).refusal is GateRefusal.ALREADY_ENTERED
    assert gate.tap(adult.present(), clock.now()).refusal is GateRefusal.NOT_ENTITLED
    upload = {"entries": [entry_json(e) for e in gate.drain()]}
    done = client.post(f"{API}/DINO/entries", json=upload, headers=staff).json()
    assert done["recorded"] == [first.entry.entry_id] and done["exceptions"] == {}
    with venues.uow() as uow:
        from yikatong.tourism.models import Entry

        assert [(e.person_id, e.ground) for e in uow.session.query(Entry)] == [(senior_id, "free")]
    clock.advance(minutes=5)
    other = gate_for(gate_id="DINO-G2")  # another gate, after the upload: the day's free entry is used
    assert other.take(client.get(f"{API}/DINO/allow-list", headers=staff).json(), now=clock.now())
    assert other.tap(senior.present(), clock.now()).refusal is GateRefusal.ALREADY_ENTERED
    # tomorrow's gate would let the senior in again; a lost card is refused once the list refreshes
    fresh = gate_for(gate_id="DINO-G3")
    with venues.uow() as uow:
        cards.report_loss(uow=uow, actor=holder(senior_id), card_no=senior.card_no, kind="formal")
        uow.commit()
    clock.advance(minutes=5)
    refreshed = client.get(f"{API}/DINO/allow-list", headers=staff).json()
    assert refreshed["refused"] == {senior.card_no: "formal_loss"}  # only the cards to refuse
    assert fresh.take(refreshed, now=clock.now())
    assert fresh.tap(senior.present(), clock.now()).refusal is GateRefusal.CARD_BLOCKED


@pytest.mark.db
def test_a_free_venues_list_does_not_grow_with_the_citys_card_holders(venues, client, login, clock):
    staff = login(Role.VENUE_OPERATOR, branch_code="CZ-DINO")

    def size() -> int:
        listed = client.get(f"{API}/DINO/allow-list", headers=staff).json()
        return len(listed["entries"]) + len(listed["refused"]) + len(listed["enteredFree"])

    issue_card(venues, person_born(venues, date(1950, 2, 1), name="老游客"))
    before = size()
    for n in range(4):
        issue_card(venues, person_born(venues, date(1945 + n, 3, 1), name="老游客"))
    assert size() == before == 0


@pytest.mark.db
def test_a_retired_card_leaves_the_refused_cards_once_past_its_validity_and_the_gate_refuses_it_expired(
        venues, client, login, clock):
    """At a free venue the refused part names retired cards, but not for ever: a card whose
    validity ended more than REFUSED_AFTER_EXPIRY_DAYS ago is left out, and the gate refuses
    it by the expiry date on its chip."""
    from yikatong.tourism.allow_list import REFUSED_AFTER_EXPIRY_DAYS

    staff = login(Role.VENUE_OPERATOR, branch_code="CZ-DINO")
    old_person = person_born(venues, date(1950, 2, 1), name="老游客")
    recent_person = person_born(venues, date(1951, 2, 1), name="老游客")
    ssn = ssn_of(venues, old_person)
    # valid until 2025-11-30: more than 30 days before 2026-03-02
    long_gone = issue_card(venues, old_person, issued=date(2015, 12, 1), ssn=ssn)
    # valid until 2026-03-19: still within its validity
    recent = issue_card(venues, recent_person, issued=date(2016, 3, 20), ssn=ssn_of(venues, recent_person))
    for held in (long_gone, recent):
        with venues.uow() as uow:
            cards.report_loss(uow=uow, actor=holder(held.person_id), card_no=held.card_no, kind="formal")
            uow.commit()
    issue_card(venues, old_person, replaces=long_gone.card_no, ssn=ssn)
    issue_card(venues, recent_person, replaces=recent.card_no, ssn=ssn_of(venues, recent_person))
    assert REFUSED_AFTER_EXPIRY_DAYS == 30
    listed = client.get(f"{API}/DINO/allow-list", headers=staff).json()
    assert listed["refused"].get(recent.card_no) == "retired"
    assert long_gone.card_no not in listed["refused"]
    gate = gate_for()
    assert gate.take(listed, now=clock.now())
    assert gate.tap(recent.present(), clock.now()).refusal is GateRefusal.CARD_BLOCKED
    expired = gate.tap(long_gone.present(), clock.now())
    assert expired.refusal is GateRefusal.CARD_EXPIRED and "有效期" in expired.zh
