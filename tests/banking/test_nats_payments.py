"""Seam 2 over NATS: the platform's NatsBankGateway asks the bank's own node to pay from the
card's account and to refund, and gets the same answers as in-process."""

from __future__ import annotations

import pytest

from tests.banking.helpers import teller
from tests.banking.test_nats import at_bank, ready_cards
from yikatong.banking import payments
from yikatong.banking.nats_gateway import NatsBankGateway
from yikatong.cards import protocols as seam
from yikatong.cards.protocols import BankGateway, BankRefused

pytestmark = [pytest.mark.nats, pytest.mark.db]


def test_pay_and_refund_over_nats(world):
    world.start_node()
    world.start_platform()
    [card] = ready_cards(world, 31)
    at_bank(world, payments.deposit, actor=teller(), bank_code="ICBC", pan=card.pan,
            amount_fen=20_000, request_id="cash-31")
    gateway = world.platform.get(BankGateway)
    assert isinstance(gateway, NatsBankGateway)
    paid = gateway.pay_from_account(bank_code="ICBC", pan=card.pan, amount_fen=12_000,
                                    request_id="water-31", payee_code="CZ-WATER",
                                    authorisation="MANDATE-31")
    assert paid.posted and paid.balance_fen == 8_000
    assert gateway.pay_from_account(bank_code="ICBC", pan=card.pan, amount_fen=12_000,
                                    request_id="water-31", payee_code="CZ-WATER",
                                    authorisation="MANDATE-31") == paid
    short = gateway.pay_from_account(bank_code="ICBC", pan=card.pan, amount_fen=12_000,
                                     request_id="water-31b", payee_code="CZ-WATER",
                                     authorisation="MANDATE-31")
    assert short.reason_code == seam.PAYMENT_INSUFFICIENT_FUNDS
    back = gateway.refund_to_account(bank_code="ICBC", pan=card.pan, amount_fen=12_000,
                                     request_id="water-31-r", original_request_id="water-31")
    assert back.posted and back.balance_fen == 20_000
    with pytest.raises(BankRefused):
        gateway.pay_from_account(bank_code="ICBC", pan=card.pan, amount_fen=1,
                                 request_id="water-31", payee_code="CZ-WATER",
                                 authorisation="MANDATE-31")
    rebate = gateway.credit_to_account(bank_code="ICBC", pan=card.pan, amount_fen=150,
                                       request_id="rebate-31", payer_code="CZ-HRSS", reference="METRO50")
    assert rebate.posted and rebate.balance_fen == 20_150
    assert gateway.credit_to_account(bank_code="ICBC", pan=card.pan, amount_fen=150, request_id="rebate-31",
                                     payer_code="CZ-HRSS", reference="METRO50") == rebate
    unknown = gateway.credit_to_account(bank_code="ICBC", pan="6212260000000000000", amount_fen=150,
                                        request_id="rebate-31x", payer_code="CZ-HRSS", reference="METRO50")
    assert unknown.reason_code == seam.PAYMENT_UNKNOWN_ACCOUNT


def test_a_disbursement_file_over_nats(world, tmp_path):
    """Only the file's name and SM3 travel; the node answers the receipt at once, processes
    in the background, and the result file appears in the drop."""
    from tests.banking.disbursement_helpers import drop_file, results
    from tests.banking.nats_world import wait_until
    from yikatong.banking.bankfiles import FileDrop

    world.bank.files = FileDrop(tmp_path / "drop")
    world.start_node()
    world.start_platform()
    [card] = ready_cards(world, 32)
    name, sm3 = drop_file(world.bank.files, "pension-202612-ICBC-0100",
                          [("pension:2026-12:32:1", card.pan, "任意", 150_000, ""),
                           ("pension:2026-12:33:1", "6212269999999999999", "某人", 1_000, "")])
    gateway = world.platform.get(BankGateway)
    receipt = gateway.submit_disbursement(bank_code="ICBC", batch_id="pension-202612-ICBC-0100",
                                          file_name=name, sm3_hex=sm3)
    assert gateway.submit_disbursement(bank_code="ICBC", batch_id="pension-202612-ICBC-0100",
                                       file_name=name, sm3_hex=sm3) == receipt
    wait_until(lambda: gateway.disbursement_result(
        bank_code="ICBC", batch_id="pension-202612-ICBC-0100") is not None, what="the result")
    header, rows = results(world.bank.files, "pension-202612-ICBC-0100.result.csv")
    assert rows == {"pension:2026-12:32:1": ("posted", ""),
                    "pension:2026-12:33:1": ("failed", "unknown_account")}
    assert (header.posted_fen, header.failed_fen) == (150_000, 1_000)
    with pytest.raises(BankRefused):
        gateway.submit_disbursement(bank_code="ICBC", batch_id="pension-202612-ICBC-0101",
                                    file_name=name, sm3_hex=sm3)  # the header names 0100
