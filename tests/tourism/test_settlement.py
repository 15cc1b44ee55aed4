"""Pass revenue split per venue (tourism/settlement.py) on the database: a bank-paid city pass
sold by CZSMK split by the period's entries, the shares owed by the seller to each venue's
operator in the ledger, one audit record naming the rows, the same period again changing
nothing, periods refused while open or out of order, a refund reversing the split, a fixed
split, and the venue's statement for a period."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.bills.conftest import balance
from tests.tourism.conftest import ADMIN, DINO_STAFF, TMH_STAFF, act, holder, load_venues
from yikatong.audit.models import AuditRecord
from yikatong.core.errors import Forbidden
from yikatong.ledger import service as ledger
from yikatong.tourism import errors, rules, service, settlement
from yikatong.tourism.models import PassShare

pytestmark = pytest.mark.db
MAR2 = date(2026, 3, 2)
NOON = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 in Changzhou


def _payer(platform, bank):
    from tests.bills.conftest import payer

    return payer(platform, bank)


def _pass(platform, person_id, key, product="CZ-PASS-228"):
    return act(platform, service.sell, actor=holder(person_id), product_code=product, person_id=person_id,
               idempotency_key=key, confirmed=True)


def _enter(platform, staff, venue, card, entry_id, at=NOON):
    decision = act(platform, service.admit, actor=staff, venue_code=venue, gate_id="G1", card_no=card.card_no,
                   at=at, entry_id=entry_id)
    assert decision.admitted and decision.ground == "pass", decision
    return decision


def _balance(platform, code):
    with platform.uow() as uow:
        return ledger.balance(uow=uow, code=code)


def _audits(platform, action):
    with platform.uow() as uow:
        return list(uow.session.execute(select(AuditRecord).where(AuditRecord.action == action)).scalars())


def test_a_city_pass_is_split_by_entries_once_and_a_refund_reverses_it(platform, bank, clock):
    load_venues(platform)
    (_, first, card1), (_, second, card2), (_, third, _) = (_payer(platform, bank) for _ in range(3))
    pass1, pass2 = _pass(platform, first, "p1"), _pass(platform, second, "p2")
    _enter(platform, DINO_STAFF, "DINO", card1, "D-1")
    _enter(platform, TMH_STAFF, "TMH", card1, "T-1")
    _enter(platform, DINO_STAFF, "DINO", card2, "D-2")

    with pytest.raises(errors.SettlementPeriodOpen):  # today is not over
        act(platform, settlement.settle, actor=ADMIN, period_from=MAR2, period_to=MAR2)
    with pytest.raises(Forbidden):
        act(platform, settlement.settle, actor=DINO_STAFF, period_from=MAR2, period_to=MAR2)
    clock.set(datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    done = act(platform, settlement.settle, actor=ADMIN, period_from=date(2026, 3, 1), period_to=MAR2)
    # DINO 2 entries, TMH 1, the others none: 22 800 × 2/3 and × 1/3 per pass
    assert done.created and (done.tickets, done.amount_fen, done.rows) == (2, 45_600, 8)
    assert done.venues == {"CZMUS": 0, "DINO": 30_400, "TMH": 15_200, "YANC": 0}
    assert done.moved_fen == 45_600 and done.waiting == 0
    assert [line["weights"] for line in done.lines] == [{"DINO": 2, "TMH": 1, "YANC": 0, "CZMUS": 0}]
    assert _balance(platform, rules.seller_due_account("CZSMK")) == 45_600
    assert _balance(platform, rules.venue_payable_account("CZ-DINO")) == 30_400
    assert _balance(platform, rules.venue_payable_account("CZ-TMH")) == 15_200
    [audit] = _audits(platform, "tourism_settlement.settled")
    with platform.uow() as uow:
        rows = uow.session.execute(select(PassShare.id).order_by(PassShare.id)).scalars().all()
    assert audit.after["rows"] == rows and audit.after["tickets"] == 2

    again = act(platform, settlement.settle, actor=ADMIN, period_from=date(2026, 3, 1), period_to=MAR2)
    assert not again.created and again.id == done.id and again.venues == done.venues
    assert len(_audits(platform, "tourism_settlement.settled")) == 1
    assert _balance(platform, rules.venue_payable_account("CZ-DINO")) == 30_400  # nothing moved twice
    with pytest.raises(errors.SettlementOutOfOrder):
        act(platform, settlement.settle, actor=ADMIN, period_from=MAR2, period_to=date(2026, 3, 2))

    # A pass sold on the 3rd, settled (no entry that day: equal shares), then refunded.
    pass3 = _pass(platform, third, "p3")
    clock.set(datetime(2026, 3, 4, 1, 0, tzinfo=UTC))
    next_one = act(platform, settlement.settle, actor=ADMIN, period_from=date(2026, 3, 3),
                   period_to=date(2026, 3, 3))
    assert next_one.venues == {"CZMUS": 5_700, "DINO": 5_700, "TMH": 5_700, "YANC": 5_700}
    assert _balance(platform, rules.seller_due_account("CZSMK")) == 68_400
    refunded = act(platform, service.refund, actor=holder(third), ticket_no=pass3.ticket_no, reason="不去了")
    assert refunded.status == "refunded"
    assert _balance(platform, rules.seller_due_account("CZSMK")) == 45_600
    assert _balance(platform, rules.venue_payable_account("CZ-DINO")) == 30_400
    assert _balance(platform, rules.venue_payable_account("CZ-MUSEUM")) == 0
    [refund_audit] = [a for a in _audits(platform, "tourism_ticket.refunded") if a.entity_id == pass3.ticket_no]
    assert refund_audit.after["split_reversed"] == {"CZMUS": 5_700, "DINO": 5_700, "TMH": 5_700, "YANC": 5_700}
    with platform.uow() as uow:
        assert ledger.trial_balance(uow=uow).balanced
        statement = settlement.venue_statement(uow=uow, actor=DINO_STAFF, venue_code="DINO",
                                               period_from=date(2026, 3, 1), period_to=date(2026, 3, 31))
        listed = settlement.settlements(uow=uow, actor=ADMIN)
    assert (statement.entries, statement.entries_by_ground) == (2, {"pass": 2})
    assert (statement.pass_shares, statement.pass_shares_fen) == (3, 36_100)
    assert (statement.pass_reversals, statement.pass_reversals_fen) == (1, 5_700)
    assert statement.revenue_fen == 30_400 and statement.settlements == (done.id, next_one.id)
    assert [s.id for s in listed] == [next_one.id, done.id]
    with platform.uow() as uow:  # the passes not refunded keep their shares
        kept = uow.session.execute(select(func.count()).select_from(PassShare).where(
            PassShare.ticket_no.in_([pass1.ticket_no, pass2.ticket_no]), PassShare.reversed_at.is_(None))).scalar()
    assert kept == 8
    with platform.uow() as uow, pytest.raises(errors.VenueNotFound):
        settlement.venue_statement(uow=uow, actor=TMH_STAFF, venue_code="DINO", period_from=MAR2, period_to=MAR2)


def test_a_pass_refunded_before_its_settlement_is_never_split(platform, bank, clock):
    load_venues(platform)
    _, person, card = _payer(platform, bank)
    sold = _pass(platform, person, "p1")
    act(platform, service.refund, actor=holder(person), ticket_no=sold.ticket_no, reason="x")
    assert balance(bank, card) == 500_000
    clock.set(datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    done = act(platform, settlement.settle, actor=ADMIN, period_from=MAR2, period_to=MAR2)
    assert (done.tickets, done.rows, done.moved_fen, done.journal) == (0, 0, 0, None)
    assert len(_audits(platform, "tourism_settlement.settled")) == 1  # the period is recorded as settled


def test_a_fixed_split_and_the_sellers_own_venue(platform, bank, clock):
    """A pass sold by CZ-DINO for its park and Tianmu Lake, 70/30: only Tianmu Lake's share moves."""
    load_venues(platform)
    act(platform, service.add_product, actor=ADMIN, code="DINO-TMH", kind="pass", name_zh="双园卡",
        name_en="two parks", price_fen=10_001, venue_codes=["DINO", "TMH"], operator_code="CZ-DINO",
        split={"basis": "fixed", "shares_bp": {"DINO": 7_000, "TMH": 3_000}})
    for wrong in ({"basis": "fixed", "shares_bp": {"DINO": 7_000, "TMH": 2_000}},
                  {"basis": "fixed", "shares_bp": {"DINO": 10_000}}, {"basis": "visits"}):
        with pytest.raises(errors.ProductInvalid):
            act(platform, service.add_product, actor=ADMIN, code="BAD", kind="pass", name_zh="x", name_en="x",
                price_fen=100, venue_codes=["DINO", "TMH"], operator_code="CZ-DINO", split=wrong)
    with pytest.raises(errors.ProductInvalid):
        act(platform, service.add_product, actor=DINO_STAFF, code="BAD", kind="day_ticket", name_zh="x",
            name_en="x", price_fen=100, venue_codes=["DINO"], slots=[{"slot": "09:00-10:00", "capacity": 1}],
            split={"basis": "entries"})
    _, person, _ = _payer(platform, bank)
    _pass(platform, person, "two", product="DINO-TMH")
    clock.set(clock.now() + timedelta(days=1))
    done = act(platform, settlement.settle, actor=ADMIN, period_from=MAR2, period_to=MAR2)
    assert done.venues == {"DINO": 7_001, "TMH": 3_000}  # the odd fen to the larger remainder
    assert done.moved_fen == 3_000
    assert _balance(platform, rules.seller_due_account("CZ-DINO")) == 3_000
    assert _balance(platform, rules.venue_payable_account("CZ-TMH")) == 3_000
    with platform.uow() as uow:
        [product] = [p for p in service.products(uow=uow) if p.code == "DINO-TMH"]
        [city] = [p for p in service.products(uow=uow) if p.code == "CZ-PASS-228"]
    assert product.split == {"basis": "fixed", "shares_bp": {"DINO": 7_000, "TMH": 3_000}}
    assert city.split == {"basis": "entries"}


def test_two_settlements_of_one_period_at_once_move_the_money_once(platform, bank, clock):
    """Two card-centre runs settle the same period at the same moment: one settles, the other
    gets that settlement back or is refused as a concurrent change; the shares move once."""
    import threading

    from yikatong.core.errors import ConcurrentChange

    load_venues(platform)
    _, person, card = _payer(platform, bank)
    _pass(platform, person, "p1")
    _enter(platform, DINO_STAFF, "DINO", card, "D-1")
    clock.set(datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        start.wait(timeout=30)
        try:
            done = act(platform, settlement.settle, actor=ADMIN, period_from=MAR2, period_to=MAR2)
            outcomes.append("created" if done.created else "returned")
        except ConcurrentChange:
            outcomes.append("refused")

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes)[0] == "created" and sorted(outcomes)[1] in ("refused", "returned"), outcomes
    assert _balance(platform, rules.venue_payable_account("CZ-DINO")) == 22_800
    assert len(_audits(platform, "tourism_settlement.settled")) == 1
