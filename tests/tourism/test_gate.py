"""The venue gate offline: the signed allow-list (build, sign, take), decisions on data already
read, a tap of an emulated card through the terminal library, an e-card QR code, and the
upload queue. Nothing here touches the database."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import date, datetime, timedelta

from yikatong.chip.emulator import Card
from yikatong.chip.image import CardPersonalisation, personalise
from yikatong.chip.psam import Psam
from yikatong.chip.reader import EmulatorReader
from yikatong.core.clock import CST
from yikatong.crypto.keystore import InMemoryKeyStore
from yikatong.crypto.sm2 import Sm2Signer, encode_public_key, generate_keypair
from yikatong.ecard import rules as ecard_rules
from yikatong.ecard import status_list
from yikatong.ecard.tokens import TokenClaims, issue_token
from yikatong.tourism import allow_list
from yikatong.tourism.allow_list import CardStanding
from yikatong.tourism.gate import Gate, GateRefusal
from yikatong.tourism.protocols import Entitlement, Ground, Presented

PRIVATE, PUBLIC = generate_keypair()
SIGNER = Sm2Signer(PRIVATE)
KEYS = {1: encode_public_key(PUBLIC)}
DAY = date(2026, 5, 1)
OPEN = datetime(2026, 5, 1, 8, 0, tzinfo=CST)
VENUE = "CZ-DINO-PARK"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 5, 1, hour, minute, tzinfo=CST)


def grant(person: int, ground: Ground, reference: str, cards=(), slot=None, day=DAY, venue=VENUE) -> Entitlement:
    return Entitlement(person_id=person, card_nos=tuple(cards), ground=ground, reference=reference,
                       venue_code=venue, day=day, slot=slot)


def signed(entitlements, cards=(), ecards=None, issued_at=OPEN, signer=SIGNER, day=DAY) -> dict:
    document = allow_list.build(venue_code=VENUE, day=day, entitlements=entitlements, cards=cards,
                                ecards=ecards or {}, issued_at=issued_at, key_version=1)
    return allow_list.sign(document, signer, created=issued_at)


def gate_with(document: dict | None = None, **kwargs) -> Gate:
    gate = Gate("G01", VENUE, KEYS, **kwargs)
    if document is not None:
        assert gate.take(document, now=OPEN)
    return gate


def test_a_pass_admits_once_a_day_and_queues_the_entry():
    gate = gate_with(signed([grant(7, Ground.PASS, "P-7", ["C0000007"])]))
    first = gate.decide_card("C0000007", at(9))
    assert first.admitted and first.entry.ground is Ground.PASS and first.entry.reference == "P-7"
    assert (first.entry.person_id, first.entry.presented, first.entry.offline) == (7, Presented.CARD, True)
    again = gate.decide_card("C0000007", at(15))
    assert again.refusal is GateRefusal.ALREADY_ENTERED and "今日已入园" in again.zh
    assert gate.decide_card("C0000099", at(9)).refusal is GateRefusal.NOT_ENTITLED
    [entry] = gate.drain()
    assert entry.entry_id == "G01-00000001" and gate.pending_entries() == []


def test_free_entry_is_used_before_a_pass_and_a_ticket_before_nothing():
    gate = gate_with(signed([grant(5, Ground.TICKET, "T-5", ["C5"]), grant(5, Ground.FREE, "senior", ["C5"])]))
    assert gate.decide_card("C5", at(9)).entry.ground is Ground.FREE
    second = gate.decide_card("C5", at(10))  # the ticket is still there: a second ground today
    assert second.admitted and second.entry.reference == "T-5"
    assert gate.decide_card("C5", at(11)).refusal is GateRefusal.ALREADY_ENTERED


def test_free_entry_is_per_person_and_entries_recorded_elsewhere_count_as_used():
    document = allow_list.build(
        venue_code=VENUE, day=DAY, entitlements=[grant(1, Ground.FREE, "senior", ["C1"]),
                                                 grant(2, Ground.FREE, "senior", ["C2"]),
                                                 grant(3, Ground.PASS, "P-3", ["C3"])],
        cards=[], ecards={}, issued_at=OPEN, key_version=1, entered=[(3, "pass", "P-3")])
    gate = gate_with(allow_list.sign(document, SIGNER, created=OPEN))
    assert gate.decide_card("C1", at(9)).admitted and gate.decide_card("C2", at(9)).admitted
    assert gate.decide_card("C1", at(10)).refusal is GateRefusal.ALREADY_ENTERED
    assert gate.decide_card("C3", at(9)).refusal is GateRefusal.ALREADY_ENTERED  # entered at another gate


def test_a_timed_ticket_admits_only_in_its_slot():
    gate = gate_with(signed([grant(3, Ground.TICKET, "T-3", ["C3"], slot="09:00-11:00")]))
    assert gate.decide_card("C3", at(8, 59)).refusal is GateRefusal.OUTSIDE_SLOT
    assert gate.decide_card("C3", at(9, 0)).admitted
    late = gate_with(signed([grant(3, Ground.TICKET, "T-3", ["C3"], slot="09:00-11:00")]))
    assert late.decide_card("C3", at(11, 0)).refusal is GateRefusal.OUTSIDE_SLOT


def test_a_lost_card_is_refused_once_the_list_refreshes_and_the_new_card_admits():
    gate = gate_with(signed([grant(9, Ground.PASS, "P-9", ["OLD00009"])]))
    assert gate.decide_card("OLD00009", at(9)).admitted
    gate.drain()
    # the card is reported lost and replaced; the next list says so
    refreshed = signed([grant(9, Ground.PASS, "P-9", ["OLD00009"])],
                       cards=[CardStanding("OLD00009", 9, "formal_loss"), CardStanding("NEW00009", 9, None)],
                       issued_at=at(12))
    assert gate.take(refreshed, now=at(12))
    blocked = gate.decide_card("OLD00009", at(13))
    assert blocked.refusal is GateRefusal.CARD_BLOCKED and "formal_loss" in blocked.en
    # one entry per pass per venue per day holds across the card change
    assert gate.decide_card("NEW00009", at(13)).refusal is GateRefusal.ALREADY_ENTERED
    other_day = signed([grant(9, Ground.PASS, "P-9", ["NEW00009"], day=DAY + timedelta(days=1))],
                       cards=[CardStanding("NEW00009", 9, None)], issued_at=at(23), day=DAY + timedelta(days=1))
    assert gate.take(other_day, now=at(23))
    assert gate.decide_card("NEW00009", at(9) + timedelta(days=1)).admitted


def test_the_gate_takes_only_genuine_newer_lists_for_its_venue_and_fails_closed_without_one():
    document = signed([grant(1, Ground.PASS, "P-1", ["C1"])])
    forged = {**document, "entries": [{**document["entries"][0], "cards": ["C2"]}]}
    other_key = signed([grant(1, Ground.PASS, "P-1", ["C1"])], signer=Sm2Signer(generate_keypair()[0]))
    gate = gate_with()
    assert gate.decide_card("C1", at(9)).refusal is GateRefusal.NO_LIST
    assert not gate.take(forged, now=OPEN) and not gate.take(other_key, now=OPEN)
    assert not gate.take({"type": "VenueAllowList"}, now=OPEN)
    assert not Gate("G09", "CZ-MUSEUM", KEYS).take(document, now=OPEN)  # another venue's list
    assert gate.take(document, now=OPEN)
    assert not gate.take(document, now=OPEN)  # not newer
    older = signed([grant(1, Ground.PASS, "P-1", ["C1"])], issued_at=OPEN - timedelta(hours=1))
    assert not gate.take(older, now=OPEN)
    # past its day the list no longer admits anyone
    assert gate.decide_card("C1", at(9) + timedelta(days=1)).refusal is GateRefusal.NO_LIST


# --- a tap through the terminal library ------------------------------------------------------

CHIP_KEYS = InMemoryKeyStore(seed=b"gate-tests")
BASE = CardPersonalisation(
    card_no="G00000042", card_id_code="320400D156000005C320400100000042", ssn="320402195001011234",
    name="测试丁", gender="1", nation="01", birthplace="320402", birth_date=date(1950, 1, 1),
    issue_date=date(2026, 3, 1), expiry_date=date(2036, 3, 1), region_code="320400",
    pan="6214830600000042", pan_sequence=1, pan_expiry=date(2036, 3, 31), asn="03104000000000000042",
)


def reader_for(**fields) -> EmulatorReader:
    reader = EmulatorReader(Card(personalise(replace(BASE, **fields), CHIP_KEYS)))
    reader.connect()
    return reader


def test_a_tap_reads_card_number_and_ssn_through_the_terminal_library():
    psam = Psam(CHIP_KEYS, terminal_id=bytes.fromhex("304090000001"))
    gate = gate_with(signed([grant(42, Ground.FREE, "senior", ["G00000042"])]), psam=psam)
    decision = gate.tap(reader_for(), at(9))
    assert decision.admitted and decision.card_no == "G00000042" and decision.ssn == "320402195001011234"
    assert decision.entry.card_no == "G00000042" and decision.entry.ground is Ground.FREE
    # a terminal without the reading key cannot learn the card number: nothing to decide on
    blind = gate_with(signed([grant(42, Ground.FREE, "senior", ["G00000042"])]))
    assert blind.tap(reader_for(), at(9)).refusal is GateRefusal.CARD_UNREADABLE


# --- an e-card QR code -------------------------------------------------------------------------


def token(ecard_no: int, index: int, when: datetime, age: int | None = None) -> str:
    return issue_token(SIGNER, TokenClaims(key_version=1, status_index=index, ecard_no=ecard_no, issued_at=when,
                                           valid_for=timedelta(seconds=60), nonce=secrets.token_bytes(8), age=age))


def status_lists(suspended=(), when: datetime = at(8, 55)):  # valid 15 minutes
    return [status_list.sign_credential(status_list.build_credential(
        list_url=f"https://ykt.example/status/{purpose}", issuer="did:web:ykt.example", purpose=purpose,
        set_indices=indices, issued_at=when, valid_for=ecard_rules.STATUS_LIST_VALIDITY, key_version=1),
        SIGNER, created=when) for purpose, indices in (("suspension", suspended), ("revocation", ()))]


def test_an_ecard_code_admits_the_person_it_names_once():
    document = signed([grant(11, Ground.PASS, "P-11", ["C11"])], ecards={11: "0000000000000011"})
    gate = gate_with(document, status_lists=status_lists())
    shown = token(11, 5, at(9))
    decision = gate.scan(shown, at(9))
    assert decision.admitted and decision.entry.presented is Presented.ECARD and decision.entry.person_id == 11
    replay = gate.scan(shown, at(9))
    assert replay.refusal is GateRefusal.ECARD_REJECTED and "replayed" in replay.en
    assert gate.scan(token(12, 6, at(9)), at(9)).refusal is GateRefusal.NOT_ENTITLED
    suspended = gate_with(document, status_lists=status_lists(suspended=(5,)))
    assert "suspended" in suspended.scan(token(11, 5, at(9)), at(9)).en
    # the pass was used by the QR code: the card does not get a second entry
    assert gate.decide_card("C11", at(10)).refusal is GateRefusal.ALREADY_ENTERED


# --- free categories decided at the gate ---------------------------------------------------------

SENIOR = {"code": "senior", "min_age": 70}
EVERYONE = {"code": "everyone", "min_age": 0}


def free_list(free=(SENIOR,), entitlements=(), cards=(), entered_free=(), issued_at=OPEN) -> dict:
    document = allow_list.build(venue_code=VENUE, day=DAY, entitlements=entitlements, cards=cards, ecards={},
                                issued_at=issued_at, key_version=1, free=free, entered_free=entered_free)
    return allow_list.sign(document, SIGNER, created=issued_at)


SENIOR_SSN = "32040219500101" + "0013"   # born 1950-01-01 (check character not needed to read the date)
ADULT_SSN = "320402199001011234"


def test_free_entry_by_age_from_the_ssn_once_a_day_and_refused_cards_first():
    from yikatong.people.rules import mod11_2_check_char

    senior_ssn = SENIOR_SSN[:17] + mod11_2_check_char(SENIOR_SSN[:17])
    gate = gate_with(free_list(cards=[CardStanding("LOST0001", 9, "formal_loss")]))
    first = gate.decide_card("S0000001", at(9), ssn=senior_ssn)
    assert first.admitted and first.entry.ground is Ground.FREE and first.entry.reference == "senior"
    assert first.entry.person_id is None and first.entry.card_no == "S0000001"  # the platform resolves the card
    # a second card of the same person (same SSN) is the same person: one free entry a day
    assert gate.decide_card("S0000002", at(10), ssn=senior_ssn).refusal is GateRefusal.ALREADY_ENTERED
    assert gate.decide_card("A0000001", at(9), ssn=ADULT_SSN).refusal is GateRefusal.NOT_ENTITLED
    assert gate.decide_card("LOST0001", at(9), ssn=senior_ssn).refusal is GateRefusal.CARD_BLOCKED
    assert gate.decide_card("S0000003", at(9)).refusal is GateRefusal.NOT_ENTITLED  # no SSN read: no age
    # entered elsewhere today (the list's enteredFree): refused; everyone's venue needs no age
    key = allow_list.person_key(senior_ssn, VENUE, DAY)
    assert gate_with(free_list(entered_free=[key])).decide_card(
        "S0000001", at(9), ssn=senior_ssn).refusal is GateRefusal.ALREADY_ENTERED
    assert gate_with(free_list(free=(EVERYONE,))).decide_card("X1", at(9), ssn="AB123456").admitted


def test_free_entry_by_the_age_an_ecard_code_carries():
    gate = gate_with(free_list(), status_lists=status_lists())
    senior = gate.scan(token(21, 1, at(9), age=76), at(9))
    assert senior.admitted and senior.entry.ground is Ground.FREE and senior.entry.ecard_no == f"{21:016d}"
    assert gate.scan(token(21, 1, at(9), age=76), at(9)).refusal is GateRefusal.ALREADY_ENTERED
    assert gate.scan(token(22, 2, at(9), age=45), at(9)).refusal is GateRefusal.NOT_ENTITLED
    assert gate.scan(token(23, 3, at(9)), at(9)).refusal is GateRefusal.NOT_ENTITLED  # a version 1 code: no age
