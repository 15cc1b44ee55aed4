"""Background work of the transit wallet, run by `ykt worker` (clock-driven, so tests move days).

* `refund_stale_top_ups`: a paid top-up whose card has not been seen on any channel for the
  policy's 7 days is refunded to the payer (and one stuck half-way in `refunding` is retried).
* `reconcile_unconfirmed_payments`: an order whose payment answer never arrived is brought in
  line with what the acquirer says (captured → paid, else failed; a bare authorisation is voided).
* `refund_unreadable_wallets`: unreadable cards whose wait for late uploads has passed are
  refunded from the shadow balance.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from yikatong.core.actor import Actor
from yikatong.core.clock import as_utc
from yikatong.core.errors import ConcurrentChange, DomainError
from yikatong.transit import refunds, rules, service
from yikatong.transit.models import TopUpOrder, TransitWallet
from yikatong.transit.protocols import PaymentGateway, PaymentState
from yikatong.transit.rules import OrderState
from yikatong.worker.runner import Job

log = logging.getLogger(__name__)
ACTOR = Actor.system("transit-jobs")


def stale_top_ups(platform) -> list[str]:
    """Orders to refund now: paid or pending with no contact of their card for the policy's
    days (counted from the latest of payment, last write and last sighting), or refunding."""
    policy = service.policy_of(platform)
    now = platform.clock.now()
    with platform.uow() as uow:
        rows = uow.session.execute(
            select(TopUpOrder, TransitWallet.last_seen_at)
            .outerjoin(TransitWallet, TransitWallet.asn == TopUpOrder.asn)
            .where(TopUpOrder.state.in_([str(OrderState.PAID), str(OrderState.PENDING_WRITE),
                                         str(OrderState.REFUNDING)]),
                   # A travel-discount rebate (discounts.rebates) has no payer to refund: it
                   # waits for the card's next contact, however long that takes; so does a
                   # wallet-paid venue ticket's refund (tourism.service.refund).
                   TopUpOrder.payer_kind.not_in(sorted(rules.CREDIT_PAYERS)))
            .order_by(TopUpOrder.id)).all()
    due = []
    for order, last_seen in rows:
        quiet_since = rules.stale_since([order.paid_at, order.write_at, last_seen])
        if order.state == OrderState.REFUNDING or (quiet_since and now - quiet_since >= policy.pending_refund_after):
            due.append(order.order_no)
    return due


def refund_stale_top_ups(platform) -> int:
    refunded = 0
    for order_no in stale_top_ups(platform):
        try:
            view = service.refund_order(platform=platform, order_no=order_no, reason="no_contact", actor=ACTOR)
        except (ConcurrentChange, DomainError) as error:  # a contact got there first, or no answer
            log.info("top-up %s not refunded this run: %s", order_no, error)
            continue
        refunded += view.state == OrderState.REFUNDED
    return refunded


def reconcile_unconfirmed_payments(platform) -> int:
    policy = service.policy_of(platform)
    cutoff = platform.clock.now() - policy.unconfirmed_payment_after
    with platform.uow() as uow:
        orders = uow.session.execute(
            select(TopUpOrder.order_no, TopUpOrder.created_at)
            .where(TopUpOrder.state == str(OrderState.CREATED)).order_by(TopUpOrder.id)).all()
    gateway = platform.get(PaymentGateway)
    settled = 0
    for order_no, created_at in orders:
        if as_utc(created_at) > cutoff:
            continue
        key = service.payment_key(order_no)
        try:
            payment = gateway.status(key=key)
            if payment is not None and payment.state == PaymentState.AUTHORISED:
                payment = gateway.void(key=key)
            service.record_payment_outcome(platform=platform, order_no=order_no, payment=payment, actor=ACTOR)
        except DomainError as error:
            log.info("payment of top-up %s not reconciled this run: %s", order_no, error)
            continue
        settled += 1
    return settled


def refund_unreadable_wallets(platform) -> int:
    with platform.uow() as uow:
        due = refunds.due_unreadable_refunds(uow=uow, now=platform.clock.now())
    done = 0
    for asn in due:
        try:
            with platform.uow() as uow:
                refunds.refund_unreadable(uow=uow, asn=asn, actor=ACTOR)
                uow.commit()
        except DomainError as error:  # read at a direct outlet meanwhile, or changed concurrently
            log.info("unreadable-card refund %s not paid this run: %s", asn, error)
            continue
        done += 1
    return done


JOBS = [
    Job("transit.refund_stale_top_ups", every_seconds=300, run=refund_stale_top_ups),
    Job("transit.reconcile_unconfirmed_payments", every_seconds=60, run=reconcile_unconfirmed_payments),
    Job("transit.refund_unreadable_wallets", every_seconds=3600, run=refund_unreadable_wallets),
]
