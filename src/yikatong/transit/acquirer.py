"""`ReferenceAcquirer`: the in-repo payment acquirer behind `PaymentGateway`.

It behaves like an outside system: it keeps its own book (table transit_reference_payments)
and commits each call on its own, whatever happens to the caller's transaction afterwards —
which is exactly why every call carries an idempotency key. Payers whose reference starts with
"DECLINE" are refused (a test hook, like a card number a test acquirer always declines).

The money side lives in the ledger and is posted by the transit service when it records the
acquirer's answer (service.py): a capture moves money from the acquirer's receivable into the
top-up liability, a refund moves it back.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from yikatong.core.errors import IdempotencyKeyReused
from yikatong.core.money import Fen
from yikatong.transit.models import ReferencePayment
from yikatong.transit.protocols import (
    Payer,
    PayerKind,
    Payment,
    PaymentDeclined,
    PaymentState,
)

DECLINING_PREFIX = "DECLINE"


class PaymentNotFound(PaymentDeclined):
    code = "transit_payment_not_found"
    zh = "支付渠道没有该笔支付"
    en = "The acquirer has no such payment"

    def __init__(self) -> None:
        super().__init__(reason_zh="无此支付", reason_en="no such payment")


class ReferenceAcquirer:
    name = "reference"

    def __init__(self, platform) -> None:
        self._platform = platform

    def authorise(self, *, key: str, amount: Fen, payer: Payer, description: str) -> Payment:
        if payer.reference.upper().startswith(DECLINING_PREFIX):
            raise PaymentDeclined(reason_zh="付款账户拒绝", reason_en="the payer's account refused")
        with self._platform.uow() as uow:
            existing = self._find(uow, key)
            if existing is not None:
                if (existing.amount, existing.payer_kind, existing.payer_reference) != (
                        amount, str(payer.kind), payer.reference):
                    raise IdempotencyKeyReused(key=key)
                return self._view(existing)
            now = uow.now()
            row = ReferencePayment(
                key=key, reference=f"REF{uuid.uuid4().hex[:20].upper()}", payer_kind=str(payer.kind),
                payer_reference=payer.reference, amount=amount, description=description[:128],
                state=str(PaymentState.AUTHORISED), created_at=now, updated_at=now,
            )
            uow.session.add(row)
            try:
                uow.commit()
            except IntegrityError:  # the same key at the same moment: answer with that one
                return self.authorise(key=key, amount=amount, payer=payer, description=description)
            return self._view(row)

    def capture(self, *, key: str) -> Payment:
        return self._move(key, {PaymentState.AUTHORISED}, PaymentState.CAPTURED)

    def void(self, *, key: str) -> Payment:
        return self._move(key, {PaymentState.AUTHORISED}, PaymentState.VOIDED)

    def refund(self, *, key: str) -> Payment:
        return self._move(key, {PaymentState.CAPTURED}, PaymentState.REFUNDED)

    def status(self, *, key: str) -> Payment | None:
        with self._platform.uow() as uow:
            row = self._find(uow, key)
            return None if row is None else self._view(row)

    def _move(self, key: str, sources: set[PaymentState], target: PaymentState) -> Payment:
        with self._platform.uow() as uow:
            row = self._find(uow, key, lock=True)
            if row is None:
                raise PaymentNotFound()
            if row.state == target:
                return self._view(row)
            if PaymentState(row.state) not in sources:
                raise PaymentDeclined(reason_zh=f"支付状态为 {row.state}", reason_en=f"the payment is {row.state}")
            row.state = str(target)
            row.updated_at = uow.now()
            uow.commit()
            return self._view(row)

    @staticmethod
    def _find(uow, key: str, *, lock: bool = False) -> ReferencePayment | None:
        query = select(ReferencePayment).where(ReferencePayment.key == key)
        if lock:
            query = query.with_for_update()
        return uow.session.execute(query).scalar_one_or_none()

    def _view(self, row: ReferencePayment) -> Payment:
        return Payment(key=row.key, reference=row.reference, acquirer=self.name,
                       payer_kind=PayerKind(row.payer_kind), amount=row.amount,
                       state=PaymentState(row.state), at=row.updated_at)
