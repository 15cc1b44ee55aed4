"""A tourism voucher (discounts domain) taken by a ticket sale: the sale redeems it in the same
transaction (the bank takes the price less the voucher), a refund gives the voucher back; a
voucher at an operator not in its campaign is refused and nothing is sold."""

from __future__ import annotations

from datetime import date

import pytest

from tests.bills.conftest import balance, payer
from tests.tourism.conftest import act, holder, load_venues
from yikatong.core.actor import Actor, Channel, Role
from yikatong.discounts import errors as discount_errors
from yikatong.discounts import service as discounts
from yikatong.tourism import service

pytestmark = pytest.mark.db
SPONSOR = Actor(user_id="sponsor", role=Role.CAMPAIGN_SPONSOR, channel=Channel.PARTNER_API, branch_code="CZ-HRSS")
ADMIN = Actor(user_id="admin", role=Role.ADMIN, channel=Channel.SYSTEM)


def test_a_sale_redeems_a_voucher_and_a_refund_gives_it_back(bank_platform, bank):
    load_venues(bank_platform)
    act(bank_platform, discounts.load_reference_data, actor=ADMIN)
    _, person_id, card = payer(bank_platform, bank)
    voucher = act(bank_platform, discounts.grant_voucher, actor=SPONSOR, campaign_code="CZ-2026-TOUR",
                  person_id=person_id, idempotency_key="g1")
    with pytest.raises(discount_errors.VoucherUnusable):  # Tianmu Lake is not in the campaign
        act(bank_platform, service.sell, actor=holder(person_id), product_code="TMH-DAY", person_id=person_id,
            idempotency_key="t1", day=date(2026, 3, 2), confirmed=True, voucher_ref=voucher.code)
    assert balance(bank, card) == 500_000
    ticket = act(bank_platform, service.sell, actor=holder(person_id), product_code="DINO-DAY", person_id=person_id,
                 idempotency_key="d1", day=date(2026, 3, 2), slot="09:00-12:00", confirmed=True,
                 voucher_ref=voucher.code)
    assert (ticket.price_fen, ticket.discount_fen, ticket.paid_fen) == (26_000, 3_000, 23_000)
    assert balance(bank, card) == 500_000 - 23_000
    [mine] = act(bank_platform, discounts.vouchers_of, actor=holder(person_id))
    assert mine.status == "redeemed"
    with bank_platform.uow() as uow:
        report = service.venue_day_report(uow=uow, actor=ADMIN, venue_code="DINO", day=date(2026, 3, 2))
    assert (report.sales_bank_fen, report.discount_fen) == (23_000, 3_000)
    act(bank_platform, service.refund, actor=holder(person_id), ticket_no=ticket.ticket_no, reason="改期")
    assert balance(bank, card) == 500_000
    [mine] = act(bank_platform, discounts.vouchers_of, actor=holder(person_id))
    assert mine.status == "issued"
