"""Helpers for the benefits tests: a small fake of the bank's two disbursement calls (seam 1:
it reads the batch file from the drop, decides each row from the card registry's copy of the
account, writes the result file and remembers every row it posted, so a test can prove that
nobody was paid twice), people with cards, and the paying office as an actor."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from sqlalchemy import text

from tests.cards.conftest import act, person_with_card
from yikatong.benefits import filedrop, service
from yikatong.cards.bank_gateway import SimpleBankGateway
from yikatong.cards.protocols import BankGateway
from yikatong.core.actor import Actor, Channel, Role

SI_OFFICE = Actor(user_id="cz-si", role=Role.PAYING_OFFICE, channel=Channel.AGENCY, branch_code="CZ-SI")
TALENT_OFFICE = Actor(user_id="cz-talent", role=Role.PAYING_OFFICE, channel=Channel.AGENCY,
                      branch_code="CZ-TALENT")
HF_OFFICE = Actor(user_id="cz-hf", role=Role.PAYING_OFFICE, channel=Channel.AGENCY, branch_code="CZ-HF")


class FakeDisbursementBank:
    """SimpleBankGateway plus `submit_disbursement` / `disbursement_result` as seam 1 says."""

    def __init__(self, inner, root: Path, engine) -> None:
        self._inner, self.root, self.engine = inner, root, engine
        self.receipts: dict[str, str] = {}
        self.results: dict[str, tuple[str, str]] = {}   # row_ref → (status, reason)
        self.credited: Counter = Counter()              # (programme, period, payment) → postings
        self.frozen: set[str] = set()                   # pans the bank has frozen
        self.answer_later = False                       # results not yet written
        self.submissions: Counter = Counter()

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def submit_disbursement(self, *, bank_code: str, batch_id: str, file_name: str, sm3_hex: str) -> str:
        self.submissions[batch_id] += 1
        if batch_id in self.receipts:
            return self.receipts[batch_id]
        path = self.root / bank_code / "to_bank" / file_name
        data = path.read_bytes()
        header_line, body = data.split(b"\n", 1)
        digest = hashes.Hash(hashes.SM3())
        digest.update(body)
        assert digest.finalize().hex() == sm3_hex
        header = next(csv.reader(io.StringIO(header_line.decode())))
        assert header[0] == "#YKT-DISB-1" and header[1] == batch_id and header[7] == sm3_hex
        rows = list(csv.DictReader(io.StringIO(body.decode())))
        assert int(header[5]) == len(rows) and int(header[6]) == sum(int(r["amount_fen"]) for r in rows)
        out, sums = [], Counter()
        for row in rows:
            status, reason = self.results.get(row["row_ref"]) or self._decide(row)
            if row["row_ref"] not in self.results and status in ("posted", "held"):
                programme, period, payment, _attempt = row["row_ref"].split(":")
                self.credited[(programme, period, payment)] += 1
            self.results[row["row_ref"]] = (status, reason)
            sums[status] += int(row["amount_fen"])
            out.append([row["row_ref"], status, reason, f"REF-{row['row_ref']}"])
        self.receipts[batch_id] = f"RCPT-{batch_id}"
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["#YKT-DISB-RESULT-1", batch_id, bank_code, len(out), sums["posted"],
                         sums["held"], sums["failed"]])
        writer.writerow(["row_ref", "status", "reason_code", "bank_reference"])
        writer.writerows(out)
        filedrop.write_atomically(self.root / bank_code / "from_bank" / f"{batch_id}.result.csv",
                                  [buffer.getvalue().encode()])
        return self.receipts[batch_id]

    def disbursement_result(self, *, bank_code: str, batch_id: str) -> str | None:
        if self.answer_later or batch_id not in self.receipts:
            return None
        return f"{batch_id}.result.csv"

    def _decide(self, row: dict) -> tuple[str, str]:
        with self.engine.connect() as connection:
            card = connection.execute(text(
                "SELECT c.financial_status, c.state, p.name FROM cards c JOIN persons p "
                "ON p.id = c.person_id WHERE c.pan = :pan"), {"pan": row["pan"]}).first()
        if card is None:
            return "failed", "unknown_account"
        if card.financial_status == "closed":
            return "failed", "account_closed"
        if row["pan"] in self.frozen:
            return "failed", "account_frozen"
        if card.name != row["name"]:
            return "failed", "name_mismatch"
        if card.financial_status == "inactive":
            return "held", ""
        return "posted", ""


@pytest.fixture
def bank(platform, tmp_path, monkeypatch) -> FakeDisbursementBank:
    root = tmp_path / "bank-files"
    monkeypatch.setenv("YKT_BANK_FILES_DIR", str(root))
    fake = FakeDisbursementBank(SimpleBankGateway(), root, platform.reading_engine)
    platform.provide(BankGateway, fake)
    return fake


def payee(platform, *, name: str = "王小明", activate: bool = True):
    """A person with a card in use: (ID number, person id, card number)."""
    return person_with_card(platform, name=name, activate=activate)


def upload(platform, programme: str, period: str, rows, actor: Actor = SI_OFFICE):
    return act(platform, service.receive_payee_list, actor=actor, programme_code=programme,
               period=period, rows=[service.PayeeRow(*r) for r in rows])


@pytest.fixture
def bank_files(tmp_path, monkeypatch) -> Path:
    """The file drop for a test through the reference bank: ask for it before `platform`, so
    the bank (made when first used) and the platform share it."""
    root = tmp_path / "reference-bank-files"
    monkeypatch.setenv("YKT_BANK_FILES_DIR", str(root))
    return root
