"""A holder who turns 70 after the card was issued: the platform rewrites the card's rider
category (file 0017 byte 11, UPDATE BINARY under secure messaging with the maintenance key) at
the next online contact, audits it once, tells the holder, and a real validator then charges the
70+ fare. Torn rewrites are finished at the next contact; cards the registry does not know are
left alone. (Grants of the student and disabled categories, and cards that keep refusing the
rewrite: test_rider_grants.py.)"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from tests.transit.conftest import CASH, COUNTER, E_WALLET, MACHINE, phone, psam
from yikatong.audit.models import AuditRecord
from yikatong.chip import terminal
from yikatong.chip.apdu import command
from yikatong.chip.apps.purse import SFI_MANAGEMENT, management_info
from yikatong.chip.emulator import TearPoint
from yikatong.chip.protocols import CardRemoved
from yikatong.core.actor import Actor
from yikatong.people import service as people
from yikatong.transit import contact, riders, service
from yikatong.transit.errors import TopUpNotWritten
from yikatong.transit.fare_rules import RiderCategory
from yikatong.transit.validator import Validator, bus

pytestmark = pytest.mark.db

BORN = date(1956, 6, 15)
ISSUED = date(2026, 3, 1)  # the holder is 69: the card says adult
BEFORE_BIRTHDAY = datetime(2026, 6, 14, 2, 0, tzinfo=UTC)  # 10:00 in Changzhou
AFTER_BIRTHDAY = datetime(2026, 6, 15, 2, 0, tzinfo=UTC)
_keys = iter(range(1, 10_000))


def holder(platform, birth: date = BORN) -> int:
    with platform.uow() as uow:
        person = people.create_person(uow=uow, actor=COUNTER, photo_jpeg=None, applicant={
            "name": "测试寿", "ssn": f"320402{birth:%Y%m%d}0{next(_keys):03d}", "gender": "1",
            "birth_date": birth.isoformat(), "nationality": "CHN", "phone": None, "address": None,
            "document_type": "resident_id_card", "document_number": f"DOC{next(_keys):08d}",
            "document_valid_until": None})
        uow.commit()
        return person.id


def senior_card(platform, make_card, **fields):
    """A card issued at 69 to a registry person born on BORN (personalised as production does)."""
    person_id = holder(platform)
    rider = service.rider_category_at_issue(birth_date=BORN, issue_date=ISSUED)
    assert rider == "adult"
    return make_card(person_id=person_id, birth_date=BORN, issue_date=ISSUED, rider=rider, **fields)


def file_0017(card) -> bytes:
    reader = card.present()
    terminal.select_purse(reader)
    return terminal.expect(terminal.exchange(reader, command(0x00, 0xB0, 0x80 | SFI_MANAGEMENT, 0x00, le=0)),
                           "READ BINARY 0017")


def rewrites(platform, asn: str) -> list[AuditRecord]:
    with platform.uow() as uow:
        return list(uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == riders.AUDIT_ACTION, AuditRecord.entity_id == asn)).scalars())


def top_up(platform, card, actor: Actor = COUNTER, amount: int = 2000):
    return service.top_up_at_terminal(platform=platform, reader=card.present(), actor=actor,
                                      idempotency_key=f"rider-{card.asn}-{next(_keys)}", amount=amount, payer=CASH)


ADULT_FILE, SENIOR_FILE = management_info("3040", "adult"), management_info("3040", "senior_70")


def test_a_card_issued_at_69_is_rewritten_at_the_top_up_after_the_70th_birthday(wallet_platform, make_card,
                                                                                keystore):
    card = senior_card(wallet_platform, make_card)
    wallet_platform.clock.set(BEFORE_BIRTHDAY)
    still_69 = top_up(wallet_platform, card)
    assert still_69.state == "done" and still_69.rider_update is None and file_0017(card) == ADULT_FILE

    wallet_platform.clock.set(AFTER_BIRTHDAY)
    at_70 = top_up(wallet_platform, card, MACHINE)
    assert at_70.state == "done" and card.balance == 4000
    told = at_70.rider_update
    assert (told.before, told.after, told.written) == ("adult", "senior_70", True)
    assert "70 周岁以上老人" in told.zh and "Aged 70 or over" in told.en
    assert file_0017(card) == SENIOR_FILE  # the whole file as personalisation writes a 70+ card
    [audited] = rewrites(wallet_platform, card.asn)
    assert (audited.before, audited.after["rider"], audited.after["confirmed_by"]) == (
        {"rider": "adult"}, "senior_70", "card_answer")

    line_1 = Validator(psam(keystore, "304060000777"), bus("3040", "1", "CZBUS"))
    ride = line_1.tap(card.present(), AFTER_BIRTHDAY.replace(hour=3))
    assert ride.accepted and ride.amount == 0 and ride.rider is RiderCategory.SENIOR_70
    assert ride.decision.discount.rule_id == "discount.cz-free-senior-disabled"
    assert [r.rider for r in line_1.drain()] == [RiderCategory.SENIOR_70]

    again = service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER)
    assert again.rider_update is None and len(rewrites(wallet_platform, card.asn)) == 1


@pytest.mark.parametrize("point", list(TearPoint))
def test_a_torn_rewrite_is_finished_at_the_next_contact_and_never_corrupts_the_file(wallet_platform, make_card,
                                                                                   point):
    card = senior_card(wallet_platform, make_card)
    wallet_platform.clock.set(AFTER_BIRTHDAY)
    card.chip.arm_tear(point, ins=0xD6)
    torn = service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER)
    assert not torn.rider_update.written and "下次" in torn.rider_update.zh and "next" in torn.rider_update.en
    # UPDATE BINARY is one command, committed whole or not at all: one of the two valid files
    assert file_0017(card) == (SENIOR_FILE if point is TearPoint.AFTER_COMMIT else ADULT_FILE)
    assert rewrites(wallet_platform, card.asn) == []

    finished = top_up(wallet_platform, card, MACHINE)
    assert finished.state == "done" and finished.rider_update.written
    assert finished.rider_update.after == "senior_70" and file_0017(card) == SENIOR_FILE
    [audited] = rewrites(wallet_platform, card.asn)
    assert audited.after["confirmed_by"] == ("next_contact" if point is TearPoint.AFTER_COMMIT else "card_answer")
    assert service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER).rider_update is None
    assert len(rewrites(wallet_platform, card.asn)) == 1


def test_a_rewrite_whose_contact_then_failed_is_told_at_the_next_contact_once(wallet_platform, make_card):
    """The card leaves during the top-up write that follows the rewrite: the contact's outcome
    is the failed write, so the next contact tells the holder instead, and only that one."""
    card = senior_card(wallet_platform, make_card)
    wallet_platform.clock.set(datetime(2026, 6, 14, 15, 58, tzinfo=UTC))  # 23:58 in Changzhou: still 69
    assert service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER).rider_update is None
    order = service.create_top_up(platform=wallet_platform, actor=COUNTER, idempotency_key=f"torn-{card.asn}",
                                  asn=card.asn, amount=2000, payer=CASH)
    wallet_platform.clock.set(datetime(2026, 6, 14, 16, 1, tzinfo=UTC))  # the 70th birthday
    card.chip.arm_tear(TearPoint.BEFORE_COMMIT, ins=0x52)  # CREDIT FOR LOAD
    with pytest.raises(TopUpNotWritten):
        service.write_top_up(platform=wallet_platform, reader=card.present(), actor=COUNTER, order_no=order.order_no)
    assert file_0017(card) == SENIOR_FILE and len(rewrites(wallet_platform, card.asn)) == 1

    told = service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER)
    assert (told.rider_update.before, told.rider_update.after, told.rider_update.written) == (
        "adult", "senior_70", True)
    assert [s.outcome for s in told.settled] == ["written"] and card.balance == 2000
    assert service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER).rider_update is None
    assert len(rewrites(wallet_platform, card.asn)) == 1


def relay(platform, actor: Actor, reader, purpose: str, subject: str | None = None) -> contact.ContactStep:
    """Be the phone: relay each command of a server-driven contact to the card."""
    step = contact.start_contact(platform=platform, actor=actor, purpose=purpose, subject=subject)
    while step.state == "awaiting_card":
        try:
            answer, removed = reader.transmit(bytes.fromhex(step.command)).hex().upper(), False
        except CardRemoved:
            answer, removed = None, True
        step = contact.answer_contact(platform=platform, actor=actor, contact_id=step.contact_id,
                                      response=answer, card_removed=removed)
    return step


def test_the_phone_relay_rewrites_once_although_each_round_replays_the_contact(wallet_platform, make_card):
    card = senior_card(wallet_platform, make_card)
    wallet_platform.clock.set(AFTER_BIRTHDAY)
    app = phone(card.person_id)
    reading = relay(wallet_platform, app, card.present(), "read")
    assert reading.state == "done" and reading.exchanges > 10, reading.problem
    assert reading.result["rider_update"]["written"] and reading.result["rider_update"]["after"] == "senior_70"
    assert file_0017(card) == SENIOR_FILE and len(rewrites(wallet_platform, card.asn)) == 1
    paid = service.create_top_up(platform=wallet_platform, actor=app, idempotency_key=f"nfc-{card.asn}",
                                 asn=card.asn, amount=3000, payer=E_WALLET)
    written = relay(wallet_platform, app, card.present(), "top_up", paid.order_no)
    assert written.state == "done" and written.result["state"] == "done", written.problem
    assert written.result["rider_update"] is None and card.balance == 3000
    assert len(rewrites(wallet_platform, card.asn)) == 1


def test_over_the_phone_relay_too_the_failed_contact_leaves_the_rewrite_to_be_told(wallet_platform, make_card):
    card = senior_card(wallet_platform, make_card)
    app = phone(card.person_id)
    wallet_platform.clock.set(datetime(2026, 6, 14, 15, 58, tzinfo=UTC))  # 23:58 in Changzhou: still 69
    assert relay(wallet_platform, app, card.present(), "read").result["rider_update"] is None
    paid = service.create_top_up(platform=wallet_platform, actor=app, idempotency_key=f"nfc-torn-{card.asn}",
                                 asn=card.asn, amount=3000, payer=E_WALLET)
    wallet_platform.clock.set(datetime(2026, 6, 14, 16, 1, tzinfo=UTC))  # the 70th birthday
    card.chip.arm_tear(TearPoint.BEFORE_COMMIT, ins=0x52)
    failed = relay(wallet_platform, app, card.present(), "top_up", paid.order_no)
    assert failed.state == "failed" and failed.problem["code"] == TopUpNotWritten.code
    assert file_0017(card) == SENIOR_FILE

    told = relay(wallet_platform, app, card.present(), "read")
    assert told.result["rider_update"]["written"] and told.result["rider_update"]["after"] == "senior_70"
    assert told.result["balance"] == 3000 == card.balance
    assert relay(wallet_platform, app, card.present(), "read").result["rider_update"] is None
    assert len(rewrites(wallet_platform, card.asn)) == 1


def test_cards_the_registry_does_not_know_are_left_alone(wallet_platform, make_card):
    """(A student card without a grant is rewritten: test_rider_grants.py.)"""
    wallet_platform.clock.set(AFTER_BIRTHDAY)
    anonymous = make_card(register=False, birth_date=date(1940, 1, 1))  # no registry card for this ASN
    unknown_holder = make_card(birth_date=date(1940, 1, 1))  # a registry card without a person on file
    for card in (anonymous, unknown_holder):
        reading = service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER)
        assert reading.rider_update is None and file_0017(card) == ADULT_FILE
        assert rewrites(wallet_platform, card.asn) == []


def test_a_card_that_refuses_the_rewrite_is_left_as_it_is_and_the_holder_told(wallet_platform, make_card):
    """A card whose maintenance key is not the one our key store derives answers 6988 to the
    secure-messaging MAC: nothing is written or audited, and the holder is sent to an outlet."""
    card = senior_card(wallet_platform, make_card)
    purse_df = next(df for df in card.chip.mf.walk() if df.purse is not None)
    purse_df.key("maintenance", 1).value = bytes(range(16))  # not the key our masters derive
    wallet_platform.clock.set(AFTER_BIRTHDAY)
    reading = service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER)
    refused = reading.rider_update
    assert not refused.written and "6988" in refused.zh and "outlet" in refused.en
    assert file_0017(card) == ADULT_FILE and rewrites(wallet_platform, card.asn) == []
    assert top_up(wallet_platform, card).state == "done"  # the top-up itself is not held up
