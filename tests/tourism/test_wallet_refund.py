"""A ticket paid from the transit wallet at the venue's terminal, refunded unused at the desk:
refused (409) until the purchase is cleared; then the money goes back to the wallet as a paid
top-up order of payer kind `venue_refund`, written on the chip at the card's next contact, and
the venue operator's clearing payable is reduced by it. Once; the books balanced; the venue's
day report shows it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tests.tourism.conftest import ADMIN, person_born
from tests.tourism.test_gate_flow import API, KEYS, issue_card, purchase_json, venues  # noqa: F401
from tests.transit.conftest import COUNTER, assert_books_balance
from yikatong.audit.models import AuditRecord
from yikatong.chip.psam import Psam
from yikatong.clearing.rules import operator_payable
from yikatong.core.actor import Role
from yikatong.ledger import service as ledger
from yikatong.tourism import service as tourism
from yikatong.tourism.terminal import VenueTerminal
from yikatong.transit import jobs
from yikatong.transit import rules as transit_rules
from yikatong.transit import service as transit
from yikatong.transit.models import TopUpOrder

PAYABLE = operator_payable("3040", "CZDINO")


def _balance(platform, code: str) -> int:
    with platform.uow() as uow:
        return ledger.balance(uow=uow, code=code)


@pytest.mark.db
def test_a_wallet_ticket_refunded_is_credited_at_the_next_contact_and_taken_off_the_venue(
        venues, client, login, clock):  # noqa: F811
    staff = login(Role.VENUE_OPERATOR, branch_code="CZ-DINO")
    visitor = issue_card(venues, person_born(venues, date(1990, 1, 1)), balance=30_000)
    transit.contact(platform=venues, reader=visitor.present(), actor=COUNTER)  # the wallet is known
    till = VenueTerminal(Psam(KEYS, terminal_id=bytes.fromhex("304070000002")), venue_code="DINO",
                         operator_code="CZ-DINO")
    paid = till.charge(visitor.present(), 26_000, clock.now())
    assert paid.paid and paid.record.balance_after == 4_000
    sale = {"product_code": "DINO-DAY", "slot": "09:00-12:00", "purchase": purchase_json(paid.record)}
    sold = client.post(f"{API}/DINO/wallet-sales", json=sale, headers=staff)
    assert sold.status_code == 201, sold.text
    ticket_no = sold.json()["ticket_no"]
    refund = f"/api/v1/tourism/tickets/{ticket_no}/refund"

    early = client.post(refund, json={"reason": "行程取消"}, headers=staff)
    assert early.status_code == 409 and early.json()["code"] == "tourism_wallet_purchase_not_cleared"
    with venues.uow() as uow:  # the refusal changed nothing
        assert uow.session.execute(select(TopUpOrder).where(
            TopUpOrder.payer_kind == transit_rules.VENUE_REFUND_PAYER)).first() is None

    cleared = client.post(f"{API}/DINO/purchases", content=till.clearing_file("DINO-T2-0001", created=clock.now()),
                          headers={**staff, "Content-Type": "text/plain"})
    assert cleared.status_code == 201, cleared.text
    owed = _balance(venues, PAYABLE)
    assert abs(owed) == 26_000

    done = client.post(refund, json={"reason": "行程取消"}, headers=staff)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "refunded"
    again = client.post(refund, json={"reason": "行程取消"}, headers=staff)
    assert again.status_code == 409  # refunding twice credits once
    assert _balance(venues, PAYABLE) == 0  # the operator is no longer paid for it
    assert abs(_balance(venues, transit_rules.TOP_UP_UNWRITTEN)) == 26_000
    with venues.uow() as uow:
        [order] = uow.session.execute(select(TopUpOrder).where(
            TopUpOrder.payer_kind == transit_rules.VENUE_REFUND_PAYER)).scalars().all()
        assert (order.asn, order.amount, order.state, order.order_no, order.balance_read) == (
            paid.record.asn, 26_000, "paid", tourism.wallet_refund_order_no(ticket_no), 30_000)
        [audit] = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "tourism_ticket.refunded", AuditRecord.entity_id == ticket_no)).scalars().all()
        assert audit.after["wallet_order"] == order.order_no
        report = tourism.venue_day_report(uow=uow, actor=ADMIN, venue_code="DINO", day=clock.now().date())
    assert (report.wallet_refunds, report.wallet_refunds_fen, report.refunds_fen) == (1, 26_000, 26_000)
    assert report.net_fen == 0
    assert order.order_no not in jobs.stale_top_ups(venues)  # never refunded to a payer, never stale
    assert_books_balance(venues)

    reading = transit.contact(platform=venues, reader=visitor.present(), actor=COUNTER)
    assert [s.outcome for s in reading.settled] == ["written"]
    assert reading.balance == 30_000
    second = transit.contact(platform=venues, reader=visitor.present(), actor=COUNTER)
    assert second.settled == () and second.balance == 30_000  # written once
    assert _balance(venues, transit_rules.TOP_UP_UNWRITTEN) == 0
    assert_books_balance(venues)
    report_page = client.get("/api/v1/tourism/venues/DINO/report", headers=staff)
    assert report_page.status_code == 200 and report_page.json()["wallet_refunds_fen"] == 26_000

