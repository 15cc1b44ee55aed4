"""Invariants over random batches (seeded): every file's total is accounted for as posted +
held + failed, no row_ref is ever paid twice, each customer's balance is the sum of its rows
paid once, and the ledger stays balanced."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from tests.banking.disbursement_helpers import account, drop_file, results
from tests.banking.helpers import balance
from yikatong.banking import bankfiles, rules
from yikatong.banking.bankfiles import FileDrop
from yikatong.banking.models import BankTransaction
from yikatong.cards.protocols import BankGateway
from yikatong.ledger import service as ledger

pytestmark = pytest.mark.db

STATES = ["active", "active", "formal_loss", "not_activated", "closed", "frozen"]


def test_random_batches_account_for_every_fen_and_pay_each_row_ref_once(bank_platform, bank,
                                                                         tmp_path):
    bank.files = FileDrop(tmp_path / "drop")
    names = ["甲", "乙", "丙", "丁", "戊", "己"]
    cards = [(account(bank_platform, bank, 400 + n, names[n], state), names[n], state)
             for n, state in enumerate(STATES)]
    rng = random.Random(14)
    paid: dict[str, tuple[str, int]] = {}  # row_ref → (pan, amount) of its first appearance
    expected = {card.pan: 0 for card, _, _ in cards}
    seen: set[str] = set()  # the kinds of answer the random batches produced
    gateway = bank_platform.get(BankGateway)
    for batch_no in range(6):
        rows = []
        for _ in range(rng.randint(1, 12)):
            card, name, state = rng.choice(cards)
            if paid and rng.random() < 0.3:  # an earlier row_ref, same or other content
                ref = rng.choice(sorted(paid))
                pan, amount = paid[ref] if rng.random() < 0.6 else (card.pan, rng.randint(1, 9_999))
                name = next(n for c, n, _ in cards if c.pan == pan) if pan != card.pan else name
            else:
                ref, pan, amount = f"p:{batch_no}:{len(rows)}", card.pan, rng.randint(1, 9_999)
            if rng.random() < 0.1:
                name = "别人"
            rows.append((ref, pan, name, amount, ""))
        batch_id = f"pension-20261{batch_no}-ICBC-0001"
        file_name, sm3 = drop_file(bank.files, batch_id, rows)
        gateway.submit_disbursement(bank_code="ICBC", batch_id=batch_id, file_name=file_name,
                                    sm3_hex=sm3)
        header, _ = results(bank.files, gateway.disbursement_result(bank_code="ICBC",
                                                                    batch_id=batch_id))
        assert header.posted_fen + header.held_fen + header.failed_fen == sum(r[3] for r in rows)
        outcome = bankfiles.parse_result_file(
            bank.files.from_bank("ICBC", f"{batch_id}.result.csv").read_bytes())[1]
        assert [line[0] for line in outcome] == [r[0] for r in rows]
        for (ref, pan, _name, amount, _), line in zip(rows, outcome, strict=True):
            first = ref not in paid
            seen.add(line[2] or line[1] if first else f"again:{line[2] or line[1]}")
            if first and line[1] == "posted":
                expected[pan] += amount
            if first and line[2] != "row_ref_reused":
                paid[ref] = (pan, amount)
    assert {"posted", "held", "account_closed", "account_frozen", "name_mismatch",
            "again:posted", "again:row_ref_reused"} <= seen, seen  # the seed covers them
    with bank.uow() as uow:
        assert ledger.trial_balance(uow=uow).balanced
        refs = uow.session.execute(select(BankTransaction.request_id).where(
            BankTransaction.channel == "disbursement")).scalars().all()
        assert len(refs) == len(set(refs))  # one bank transaction per row_ref, ever
        payer = ledger.balance(uow=uow, code=rules.settlement_code("ICBC", "CZ-SI"))
    for card, _, state in cards:
        assert balance(bank, "ICBC", card.pan) == expected[card.pan], state
    assert payer == -sum(expected.values()) and payer < 0
