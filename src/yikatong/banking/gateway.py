"""`BankGateway` into the reference bank, in-process (this module) or over NATS
(`banking.nats_gateway`). Both go through `answer_request`, so the bank answers a request the
same way whichever transport carried it.

The bank decides at once and answers with the events it produced (the platform applies them
in its own transaction); the same events also wait in the bank's outbox and reach the
platform again through the relay, where `apply_bank_event` recognises them by id. So if the
platform's transaction fails after the bank said yes, the bank's decision still arrives.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from yikatong.banking import disbursement, payments, service, transport
from yikatong.banking.retries import with_retries
from yikatong.banking.runtime import ReferenceBank
from yikatong.cards.protocols import (
    AccountStatement,
    BankAck,
    BankEvent,
    BankPayment,
    BankPaymentResult,
    BankReadNotOffered,
    BankRefused,
    BankUnavailable,
    FinancialStatus,
)
from yikatong.core.errors import DomainError

log = logging.getLogger(__name__)

OPERATIONS = {
    "activate": service.gateway_activate,
    "report_financial_loss": service.gateway_report_loss,
    "lift_financial_loss": service.gateway_lift_loss,
    "request_account_closure": service.request_closure,
    "financial_status": service.gateway_financial_status,
    "account_statement": service.gateway_account_statement,  # optional on the seam
}
# Operations whose JSON answer goes back as `data`.
DATA_OPERATIONS = {
    "pay_from_account": payments.gateway_pay_from_account,
    "refund_to_account": payments.gateway_refund_to_account,
    "credit_to_account": payments.gateway_credit_to_account,
    "submit_disbursement": disbursement.gateway_submit,
    "disbursement_result": disbursement.gateway_result,
}
# … of which these read or write the bank's file drop.
FILE_OPERATIONS = frozenset({"submit_disbursement", "disbursement_result"})


def answer_request(bank: ReferenceBank, operation: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run one gateway request in one bank transaction; a JSON-able answer:
    `{"ok": true, "events": [...], "task_id": …, "status": …}` or
    `{"ok": false, "code": …, "reason_zh": …, "reason_en": …}` when the bank refuses."""
    if operation in DATA_OPERATIONS:
        return _answer_data(bank, operation, args)
    if operation not in OPERATIONS:
        return {"ok": False, "code": "unknown_operation", "reason_zh": f"未知的请求 {operation}",
                "reason_en": f"unknown operation {operation}"}
    def run() -> Any:
        with bank.uow() as uow:
            result = OPERATIONS[operation](uow=uow, **args)
            if isinstance(result, list):
                service.mark_answered(uow=uow, event_ids=[event.event_id for event in result])
            uow.commit()
        return result

    try:
        bank.check_serves(args["bank_code"])
        result = with_retries(run)
    except DomainError as error:
        return {"ok": False, "code": error.code, "reason_zh": error.message_zh,
                "reason_en": error.message_en}
    answer: dict[str, Any] = {"ok": True, "events": [], "task_id": None, "status": None}
    if isinstance(result, list):
        answer["events"] = [transport.event_to_dict(event) for event in result]
    elif isinstance(result, FinancialStatus):
        answer["status"] = str(result)
    elif isinstance(result, dict):
        answer["statement"] = result
    else:
        answer["task_id"] = result
    return answer


def _answer_data(bank: ReferenceBank, operation: str, args: dict[str, Any]) -> dict[str, Any]:
    def run() -> Any:
        with bank.uow() as uow:
            extra = {"files": bank.files} if operation in FILE_OPERATIONS else {}
            result = DATA_OPERATIONS[operation](uow=uow, **args, **extra)
            uow.commit()
        return result

    try:
        bank.check_serves(args["bank_code"])
        return {"ok": True, "data": with_retries(run)}
    except DomainError as error:
        return {"ok": False, "code": error.code, "reason_zh": error.message_zh,
                "reason_en": error.message_en}


def payment_result_of(answer: dict[str, Any]) -> BankPaymentResult:
    refuse_if_refused(answer)
    data = dict(answer["data"])
    data["at"] = datetime.fromisoformat(data["at"]) if data.get("at") else None
    return BankPaymentResult(**data)


def ack_of(answer: dict[str, Any], reference: str) -> BankAck:
    """The BankAck of a successful answer; BankRefused for a refusal."""
    refuse_if_refused(answer)
    events = tuple(transport.event_from_dict(item) for item in answer["events"])
    return BankAck(bank_reference=events[0].event_id if events else reference, events=events)


def statement_of(data: dict[str, Any]) -> AccountStatement:
    def payment(item: dict[str, Any]) -> BankPayment:
        return BankPayment(kind=item["kind"], amount_fen=item["amount_fen"],
                           incoming=item["incoming"], status=item["status"],
                           channel=item["channel"], counterparty=item["counterparty"],
                           at=datetime.fromisoformat(item["at"]))

    return AccountStatement(balance_fen=data["balance_fen"], as_of=datetime.fromisoformat(data["as_of"]),
                            payments=tuple(payment(item) for item in data["payments"]),
                            held=tuple(payment(item) for item in data["held"]))


def refuse_if_refused(answer: dict[str, Any]) -> None:
    if not answer.get("ok"):
        raise BankRefused(reason_zh=answer.get("reason_zh", ""), reason_en=answer.get("reason_en", ""))


class RequestingGateway:
    """The BankGateway methods as requests to the bank; subclasses carry them (`_ask`)."""

    def activate(self, *, bank_code: str, card_no: str, pan: str, activated_at: datetime,
                 branch_code: str | None) -> BankAck:
        return ack_of(self._ask("activate", bank_code=bank_code, card_no=card_no, pan=pan,
                                branch_code=branch_code), f"{bank_code}-activate-{card_no}")

    def report_financial_loss(self, *, bank_code: str, card_no: str, pan: str, kind: str,
                              channel: str, reported_at: datetime) -> BankAck:
        return ack_of(self._ask("report_financial_loss", bank_code=bank_code, card_no=card_no,
                                pan=pan, kind=str(kind), channel=channel),
                      f"{bank_code}-loss-{card_no}")

    def lift_financial_loss(self, *, bank_code: str, card_no: str, pan: str, channel: str,
                            lifted_at: datetime) -> BankAck:
        return ack_of(self._ask("lift_financial_loss", bank_code=bank_code, card_no=card_no,
                                pan=pan, channel=channel), f"{bank_code}-unblock-{card_no}")

    def request_account_closure(self, *, bank_code: str, card_no: str, pan: str, reason: str,
                                requested_at: datetime, successor_card_no: str | None = None) -> str:
        answer = self._ask("request_account_closure", bank_code=bank_code, card_no=card_no,
                           pan=pan, reason=reason, successor_card_no=successor_card_no)
        refuse_if_refused(answer)
        return answer["task_id"]

    def financial_status(self, *, bank_code: str, pan: str) -> FinancialStatus:
        answer = self._ask("financial_status", bank_code=bank_code, pan=pan)
        refuse_if_refused(answer)
        return FinancialStatus(answer["status"])

    def poll_events(self, *, now: datetime) -> list[BankEvent]:
        """Nothing to poll: the reference bank pushes its events (relay or JetStream)."""
        return []

    def account_statement(self, *, bank_code: str, pan: str, limit: int) -> AccountStatement:
        answer = self._ask("account_statement", bank_code=bank_code, pan=pan, limit=limit)
        if answer.get("code") == "unknown_operation":  # a bank process that does not offer it
            raise BankReadNotOffered()
        refuse_if_refused(answer)
        return statement_of(answer["statement"])

    def pay_from_account(self, *, bank_code: str, pan: str, amount_fen: int, request_id: str,
                         payee_code: str, authorisation: str) -> BankPaymentResult:
        return payment_result_of(self._ask(
            "pay_from_account", bank_code=bank_code, pan=pan, amount_fen=amount_fen,
            request_id=request_id, payee_code=payee_code, authorisation=authorisation))

    def refund_to_account(self, *, bank_code: str, pan: str, amount_fen: int, request_id: str,
                          original_request_id: str) -> BankPaymentResult:
        return payment_result_of(self._ask(
            "refund_to_account", bank_code=bank_code, pan=pan, amount_fen=amount_fen,
            request_id=request_id, original_request_id=original_request_id))

    def credit_to_account(self, *, bank_code: str, pan: str, amount_fen: int, request_id: str,
                          payer_code: str, reference: str) -> BankPaymentResult:
        return payment_result_of(self._ask(
            "credit_to_account", bank_code=bank_code, pan=pan, amount_fen=amount_fen,
            request_id=request_id, payer_code=payer_code, reference=reference))

    def submit_disbursement(self, *, bank_code: str, batch_id: str, file_name: str,
                            sm3_hex: str) -> str:
        answer = self._ask("submit_disbursement", bank_code=bank_code, batch_id=batch_id,
                           file_name=file_name, sm3_hex=sm3_hex)
        refuse_if_refused(answer)
        return answer["data"]["receipt_id"]

    def disbursement_result(self, *, bank_code: str, batch_id: str) -> str | None:
        answer = self._ask("disbursement_result", bank_code=bank_code, batch_id=batch_id)
        refuse_if_refused(answer)
        return answer["data"]["file_name"]

    def _ask(self, operation: str, **args: Any) -> dict[str, Any]:
        raise NotImplementedError


class ReferenceBankGateway(RequestingGateway):
    """The in-process reference bank behind the platform's BankGateway.

    The events of an answer wait in the bank's outbox for a moment (link.sendable) so that the
    relay does not race the platform transaction applying them. In-process the platform tells
    when that transaction committed (`release_answered`, an after-commit hook), per thread.
    """

    def __init__(self, bank: ReferenceBank) -> None:
        self.bank = bank
        self._answered = threading.local()

    def release_answered(self) -> None:
        """The platform committed what this thread was answered: the relay may send it."""
        ids = getattr(self._answered, "ids", None)
        if ids:
            self._answered.ids = []
            with self.bank.uow() as uow:
                service.mark_answered(uow=uow, event_ids=ids, answered=False)
                uow.commit()

    def submit_disbursement(self, *, bank_code: str, batch_id: str, file_name: str,
                            sm3_hex: str) -> str:
        """In-process the bank processes the batch at once (its node does it in the
        background): the result file is there when this returns."""
        receipt = super().submit_disbursement(bank_code=bank_code, batch_id=batch_id,
                                              file_name=file_name, sm3_hex=sm3_hex)
        try:
            disbursement.process_received(self.bank, bank_code)
        except SQLAlchemyError:  # the receipt stands; the bank's job processes it later
            log.exception("the reference bank could not process batch %s now", batch_id)
        return receipt

    def disbursement_result(self, *, bank_code: str, batch_id: str) -> str | None:
        name = super().disbursement_result(bank_code=bank_code, batch_id=batch_id)
        if name is None:  # left received (a crash, a conflict): process it now
            try:
                disbursement.process_received(self.bank, bank_code)
            except SQLAlchemyError:
                log.exception("the reference bank could not process batch %s now", batch_id)
                return None
            name = super().disbursement_result(bank_code=bank_code, batch_id=batch_id)
        return name

    def _ask(self, operation: str, **args: Any) -> dict[str, Any]:
        try:
            answer = answer_request(self.bank, operation, args)
        except SQLAlchemyError as error:
            log.exception("the reference bank's database failed on %s", operation)
            raise BankUnavailable() from error
        if answer.get("events"):
            if not hasattr(self._answered, "ids"):
                self._answered.ids = []
            self._answered.ids.extend(event["event_id"] for event in answer["events"])
        return answer
