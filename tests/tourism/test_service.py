"""Tourism end to end on the database: reference venues, day tickets and passes paid from the
card's bank account (reference bank) or recorded from a wallet purchase, slot capacity,
refunds, pass activation, online admission, uploaded entries (idempotent, exceptions flagged),
passes following a replacement card, and the venue's day report."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from tests.banking.helpers import at_bank, produce, teller
from tests.bills.conftest import balance
from tests.tourism.conftest import (
    ADMIN,
    DINO_STAFF,
    TMH_STAFF,
    act,
    holder,
    load_venues,
    person_born,
)
from yikatong.audit.models import AuditRecord
from yikatong.banking import service as bank_service
from yikatong.core.errors import Forbidden, IdempotencyKeyReused
from yikatong.tourism import errors, service
from yikatong.tourism.models import Entry, Ticket
from yikatong.tourism.protocols import GateEntry, Ground, Presented

pytestmark = pytest.mark.db
TODAY = date(2026, 3, 2)
NOON = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 in Changzhou


def buy(platform, person_id, product="DINO-DAY", key="k1", **kw):
    kw.setdefault("slot", "09:00-12:00" if product == "DINO-DAY" else None)
    return act(platform, service.sell, actor=holder(person_id), product_code=product, person_id=person_id,
               idempotency_key=key, day=kw.pop("day", TODAY), confirmed=True, **kw)


def audits(platform, action):
    with platform.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(AuditRecord)
                                   .where(AuditRecord.action == action)).scalar()


def test_reference_venues_load_once(platform):
    assert load_venues(platform) == 13
    assert load_venues(platform) == 0
    with platform.uow() as uow:
        codes = [v.code for v in service.venues(uow=uow)]
        assert codes == ["CZMUS", "DINO", "TMH", "YANC"]
        assert [v.code for v in service.venues(uow=uow, actor=DINO_STAFF)] == ["DINO"]
        assert service.get_venue(uow=uow, venue_code="DINO").level == "5A"


def test_day_ticket_from_the_bank_account_refund_and_idempotency(platform, bank):
    load_venues(platform)
    _, person_id, card = _payer(platform, bank)
    before = balance(bank, card)
    ticket = buy(platform, person_id)
    again = buy(platform, person_id)
    assert again.ticket_no == ticket.ticket_no and ticket.ticket_no.startswith("MP20260302")
    assert ticket.paid_fen == 26000 and ticket.payment == "bank" and ticket.bank_reference
    assert balance(bank, card) == before - 26000
    with pytest.raises(IdempotencyKeyReused):
        buy(platform, person_id, product="TMH-DAY", slot="08:00-17:00")
    refunded = act(platform, service.refund, actor=holder(person_id), ticket_no=ticket.ticket_no,
                   reason="行程变更")
    assert refunded.status == "refunded" and balance(bank, card) == before
    with pytest.raises(errors.NotRefundable):
        act(platform, service.refund, actor=holder(person_id), ticket_no=ticket.ticket_no, reason="again")
    assert audits(platform, "tourism_ticket.sold") == 1 and audits(platform, "tourism_ticket.refunded") == 1


def test_bank_refusal_records_nothing(platform, bank):
    load_venues(platform)
    _, person_id, card = _payer(platform, bank, money=100)
    with pytest.raises(errors.AccountRefused):
        buy(platform, person_id)
    with platform.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(Ticket)).scalar() == 0
        assert service.slot_availability(uow=uow, product_code="DINO-DAY", day=TODAY)[0]["sold"] == 0


def test_slot_capacity_is_never_passed(platform, bank):
    load_venues(platform)
    act(platform, service.add_product, actor=DINO_STAFF, code="DINO-NIGHT", kind="day_ticket",
        name_zh="夜场", name_en="night", price_fen=5000, venue_codes=["DINO"],
        slots=[{"slot": "18:00-21:00", "capacity": 2}])
    people = [_payer(platform, bank)[1] for _ in range(3)]
    for i, person_id in enumerate(people[:2]):
        buy(platform, person_id, product="DINO-NIGHT", key=f"n{i}", slot="18:00-21:00")
    with pytest.raises(errors.SlotSoldOut):
        buy(platform, people[2], product="DINO-NIGHT", key="n2", slot="18:00-21:00")
    with platform.uow() as uow:
        assert service.slot_availability(uow=uow, product_code="DINO-NIGHT", day=TODAY) == [
            {"slot": "18:00-21:00", "capacity": 2, "sold": 2, "left": 0}]


def test_wallet_sale_records_the_purchase_once(platform):
    load_venues(platform)
    person_id = person_born(platform, date(1990, 5, 1))
    sold = act(platform, service.sell, actor=DINO_STAFF, product_code="DINO-DAY", person_id=person_id,
               idempotency_key="term-1:0001", day=TODAY, slot="12:00-17:00", payment="wallet",
               purchase_reference="TU-0001")
    assert sold.payment == "wallet" and sold.purchase_reference == "TU-0001"
    with pytest.raises(errors.PurchaseAlreadyUsed):
        act(platform, service.sell, actor=DINO_STAFF, product_code="DINO-DAY", person_id=person_id,
            idempotency_key="term-1:0002", day=TODAY, slot="12:00-17:00", payment="wallet",
            purchase_reference="TU-0001")
    with pytest.raises(errors.ProductNotFound):  # another operator's product
        act(platform, service.sell, actor=TMH_STAFF, product_code="DINO-DAY", person_id=person_id,
            idempotency_key="term-9:1", payment="wallet", purchase_reference="TU-9")
    with pytest.raises(Forbidden):  # staff never take money from the bank account
        act(platform, service.sell, actor=DINO_STAFF, product_code="DINO-DAY", person_id=person_id,
            idempotency_key="x", confirmed=True)


def test_online_admission_ticket_then_pass_then_refusals(platform, bank):
    load_venues(platform)
    _, person_id, card = _payer(platform, bank)
    ticket = buy(platform, person_id)
    first = act(platform, service.admit, actor=DINO_STAFF, venue_code="DINO", gate_id="G1",
                card_no=card.card_no, at=NOON, entry_id="G1-1")
    assert first.admitted and first.ground == "ticket" and first.reference == ticket.ticket_no
    assert act(platform, service.admit, actor=DINO_STAFF, venue_code="DINO", gate_id="G1",
               card_no=card.card_no, at=NOON, entry_id="G1-1") == first  # same entry id
    second = act(platform, service.admit, actor=DINO_STAFF, venue_code="DINO", gate_id="G1",
                 card_no=card.card_no, at=NOON, entry_id="G1-2")
    assert not second.admitted and second.reason == "ticket_used"
    pas = buy(platform, person_id, product="CZ-PASS-228", key="p1")
    assert pas.activate_by == date(2026, 6, 2) and pas.valid_from is None
    third = act(platform, service.admit, actor=DINO_STAFF, venue_code="DINO", gate_id="G1",
                person_id=person_id, at=NOON, entry_id="G1-3")
    assert third.admitted and third.ground == "pass"
    with platform.uow() as uow:
        got = service.get_ticket(uow=uow, actor=ADMIN, ticket_no=pas.ticket_no)
    assert (got.valid_from, got.valid_until) == (date(2026, 3, 2), date(2027, 3, 1))  # first entry activated
    fourth = act(platform, service.admit, actor=DINO_STAFF, venue_code="DINO", gate_id="G2",
                 card_no=card.card_no, at=NOON, entry_id="G2-1")
    assert not fourth.admitted and fourth.reason == "already_entered"
    with pytest.raises(errors.NotRefundable):  # an activated pass is not refunded
        act(platform, service.refund, actor=holder(person_id), ticket_no=pas.ticket_no, reason="x")


def test_pass_follows_a_replacement_card_and_the_lost_card_is_refused(platform, bank):
    load_venues(platform)
    _, person_id, card = _payer(platform, bank)
    pas = buy(platform, person_id, product="CZ-PASS-228", key="p1")
    with platform.uow() as uow:
        [ent] = [e for e in service.entitlements(uow, "TMH", TODAY) if e.person_id == person_id]
    assert ent.ground == Ground.PASS and ent.card_nos == (card.card_no,) and ent.reference == pas.ticket_no
    at_bank(bank, bank_service.report_loss_at_branch, actor=teller(), bank_code=card.bank_code,
            pan=card.pan, kind="formal_loss")
    new = produce(platform, person_id=person_id, kind="replacement", predecessor=card.card_no)
    with platform.uow() as uow:
        [ent] = [e for e in service.entitlements(uow, "TMH", TODAY) if e.person_id == person_id]
    assert ent.card_nos == (new.card_no,)
    lost = act(platform, service.admit, actor=TMH_STAFF, venue_code="TMH", gate_id="T1",
               card_no=card.card_no, at=NOON, entry_id="T1-1")
    assert not lost.admitted and lost.reason == "card_not_valid"
    ok = act(platform, service.admit, actor=TMH_STAFF, venue_code="TMH", gate_id="T1",
             card_no=new.card_no, at=NOON, entry_id="T1-2")
    assert ok.admitted and ok.reference == pas.ticket_no


def test_free_category_by_age(platform):
    load_venues(platform)
    senior = person_born(platform, date(1950, 1, 1), name="老游客")
    adult = person_born(platform, date(1980, 1, 1))
    yes = act(platform, service.admit, actor=DINO_STAFF, venue_code="DINO", gate_id="G", person_id=senior,
              at=NOON, entry_id="F1")
    no = act(platform, service.admit, actor=DINO_STAFF, venue_code="DINO", gate_id="G", person_id=adult,
             at=NOON, entry_id="F2")
    assert (yes.admitted, yes.ground, yes.reference) == (True, "free", "senior")
    assert (no.admitted, no.reason) == (False, "no_entitlement")
    again = act(platform, service.admit, actor=DINO_STAFF, venue_code="DINO", gate_id="G2", person_id=senior,
                at=NOON, entry_id="F3")
    assert (again.admitted, again.reason) == (False, "already_entered")  # one free entry a day
    with platform.uow() as uow:  # free entry is decided at the gate, not listed person by person
        assert [e for e in service.entitlements(uow, "DINO", TODAY) if e.ground == "free"] == []


def test_uploaded_entries_idempotent_and_flagged(platform, bank):
    load_venues(platform)
    _, person_id, card = _payer(platform, bank)
    pas = buy(platform, person_id, product="CZ-PASS-228", key="p1")

    def entry(n, hour):
        return GateEntry(entry_id=f"G9-{n}", venue_code="DINO", gate_id="G9", person_id=person_id,
                         card_no=card.card_no, presented=Presented.CARD, ground=Ground.PASS,
                         reference=pas.ticket_no, at=datetime(2026, 3, 2, hour, tzinfo=UTC), offline=True)

    out = act(platform, service.record_entries, actor=DINO_STAFF, entries=[entry(1, 2), entry(2, 3)])
    assert out.recorded == ["G9-1", "G9-2"] and out.exceptions == {"G9-2": "already_entered"}
    again = act(platform, service.record_entries, actor=DINO_STAFF, entries=[entry(1, 2), entry(2, 3)])
    assert again.recorded == [] and again.duplicates == ["G9-1", "G9-2"]
    with platform.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(Entry)).scalar() == 2
        report = service.venue_day_report(uow=uow, actor=DINO_STAFF, venue_code="DINO", day=TODAY)
    assert (report.entries, report.entries_offline, report.exceptions) == (2, 2, 1)
    assert audits(platform, "tourism_entries.recorded") == 1
    with pytest.raises(errors.VenueNotFound):  # another operator's venue
        act(platform, service.record_entries, actor=TMH_STAFF, entries=[entry(3, 4)])


def test_venue_day_report_counts_sales_and_refunds(platform, bank):
    load_venues(platform)
    people = [_payer(platform, bank)[1] for _ in range(2)]
    a = buy(platform, people[0], key="a")
    buy(platform, people[1], key="b", slot="12:00-17:00")
    act(platform, service.refund, actor=DINO_STAFF, ticket_no=a.ticket_no, reason="desk")
    with platform.uow() as uow:
        report = service.venue_day_report(uow=uow, actor=ADMIN, venue_code="DINO", day=TODAY)
    assert (report.tickets_sold, report.sales_bank_fen, report.refunds_fen, report.net_fen) == (2, 52000, 26000, 26000)
    assert {s["slot"]: s["sold"] for s in report.slots} == {"09:00-12:00": 0, "12:00-17:00": 1}


def _payer(platform, bank, money=500_000):
    from tests.bills.conftest import payer

    return payer(platform, bank, money=money)


def test_many_desks_on_the_last_seats_never_oversell(platform):
    """8 desks at once record wallet sales into a slot of 3 seats: exactly 3 tickets are sold,
    the others are refused sold out, and the slot counts 3."""
    import threading

    load_venues(platform)
    act(platform, service.add_product, actor=DINO_STAFF, code="DINO-TINY", kind="day_ticket",
        name_zh="小团", name_en="tiny", price_fen=1000, venue_codes=["DINO"],
        slots=[{"slot": "10:00-11:00", "capacity": 3}])
    people = [person_born(platform, date(1985, 1, 1 + i)) for i in range(8)]
    start = threading.Barrier(len(people))
    outcomes: dict[int, str] = {}

    def desk(i: int) -> None:
        start.wait(timeout=30)
        try:
            act(platform, service.sell, actor=DINO_STAFF, product_code="DINO-TINY", person_id=people[i],
                idempotency_key=f"desk-{i}", day=TODAY, payment="wallet", purchase_reference=f"TU-{i}")
            outcomes[i] = "sold"
        except errors.SlotSoldOut:
            outcomes[i] = "sold_out"

    threads = [threading.Thread(target=desk, args=(i,)) for i in range(len(people))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes.values()) == ["sold"] * 3 + ["sold_out"] * 5, outcomes
    with platform.uow() as uow:
        assert service.slot_availability(uow=uow, product_code="DINO-TINY", day=TODAY)[0]["sold"] == 3
        assert uow.session.execute(select(func.count()).select_from(Ticket)
                                   .where(Ticket.product_code == "DINO-TINY")).scalar() == 3
