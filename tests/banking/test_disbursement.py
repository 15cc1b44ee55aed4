"""The reference bank's side of disbursement (代发) files (seam 1 of issue 14): every row's
outcome, the ledger, the holder's statement, idempotency, and files refused cleanly."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from tests.banking.disbursement_helpers import PAY_DAY, account, drop_file, results
from tests.banking.helpers import at_bank, balance, teller
from yikatong.audit.models import AuditRecord
from yikatong.banking import bankfiles, disbursement, rules, service
from yikatong.banking.bankfiles import FileDrop
from yikatong.banking.models import BankDisbursementBatch, BankOutboxMessage, BankTransaction
from yikatong.cards.protocols import BankGateway, BankRefused
from yikatong.core.money import MAX_BALANCE_FEN
from yikatong.ledger import service as ledger
from yikatong.ledger.models import Journal, LedgerAccount, Posting

pytestmark = pytest.mark.db


@pytest.fixture
def files(bank, tmp_path) -> FileDrop:
    bank.files = FileDrop(tmp_path / "bank-files")
    return bank.files


@pytest.fixture
def people(bank_platform, bank, files):
    """One account in each state the bank decides on."""
    return {state: account(bank_platform, bank, n, name, state) for n, (state, name) in enumerate([
        ("active", "张三"), ("formal_loss", "李四"), ("temporary_loss", "王五"),
        ("not_activated", "赵六"), ("closed", "钱七"), ("frozen", "孙八"),
        ("mismatch", "周九"), ("minority", "买买提·艾力")], start=301)}


def submit(platform, batch_id: str, name: str, sm3: str) -> str:
    return platform.get(BankGateway).submit_disbursement(bank_code="ICBC", batch_id=batch_id,
                                                         file_name=name, sm3_hex=sm3)


def result_of(platform, batch_id: str) -> str | None:
    return platform.get(BankGateway).disbursement_result(bank_code="ICBC", batch_id=batch_id)


def payer_book(bank) -> int:
    with bank.uow() as uow:
        return ledger.balance(uow=uow, code=rules.settlement_code("ICBC", "CZ-SI"))


def test_every_row_is_posted_held_or_failed_with_its_reason(bank_platform, bank, files, people):
    p = people
    rows = [
        ("pension:2026-12:1:1", p["active"].pan, "张三", 250_000, "养老金 2026-12"),
        ("pension:2026-12:2:1", p["formal_loss"].pan, "李四", 180_000, ""),
        ("pension:2026-12:3:1", p["temporary_loss"].pan, "王 五", 170_000, ""),  # spaces ignored
        ("pension:2026-12:4:1", p["not_activated"].pan, "赵六", 160_000, ""),
        ("pension:2026-12:5:1", p["closed"].pan, "钱七", 150_000, ""),
        ("pension:2026-12:6:1", p["frozen"].pan, "孙八", 140_000, ""),
        ("pension:2026-12:7:1", p["mismatch"].pan, "周久", 130_000, ""),
        ("pension:2026-12:8:1", "6212269999999999999", "吴十", 120_000, ""),
        ("pension:2026-12:9:1", p["minority"].pan, "买买提•艾力", 110_000, ""),  # another dot
    ]
    name, sm3 = drop_file(files, "pension-202612-ICBC-0001", rows)
    receipt = submit(bank_platform, "pension-202612-ICBC-0001", name, sm3)
    assert receipt.startswith("ICBC-R")
    result_name = result_of(bank_platform, "pension-202612-ICBC-0001")
    assert result_name == "pension-202612-ICBC-0001.result.csv"
    header, by_ref = results(files, result_name)
    assert {ref: outcome for ref, outcome in by_ref.items()} == {
        "pension:2026-12:1:1": ("posted", ""), "pension:2026-12:2:1": ("posted", ""),
        "pension:2026-12:3:1": ("posted", ""), "pension:2026-12:4:1": ("held", ""),
        "pension:2026-12:5:1": ("failed", "account_closed"),
        "pension:2026-12:6:1": ("failed", "account_frozen"),
        "pension:2026-12:7:1": ("failed", "name_mismatch"),
        "pension:2026-12:8:1": ("failed", "unknown_account"),
        "pension:2026-12:9:1": ("posted", ""),
    }
    posted = 250_000 + 180_000 + 170_000 + 110_000
    assert (header.row_count, header.posted_fen, header.held_fen, header.failed_fen) == (
        9, posted, 160_000, 150_000 + 140_000 + 130_000 + 120_000)
    assert balance(bank, "ICBC", p["active"].pan) == 250_000
    assert balance(bank, "ICBC", p["formal_loss"].pan) == 180_000  # a lost card still receives
    assert balance(bank, "ICBC", p["not_activated"].pan) == 0
    assert payer_book(bank) == -posted  # the payer's book debited with the total posted
    with bank.uow() as uow:
        journals = uow.session.execute(select(Journal).where(
            Journal.kind == "bank_disbursement")).scalars().all()
        assert len(journals) == 1
        amounts = uow.session.execute(select(Posting.amount).where(
            Posting.journal_id == journals[0].id)).scalars().all()
        assert sum(amounts) == 0 and len(amounts) == 5 and max(amounts) == posted
        assert ledger.trial_balance(uow=uow).balanced
        customer = uow.session.execute(select(LedgerAccount).where(
            LedgerAccount.code == rules.customer_code("ICBC", p["active"].pan))).scalar_one()
        assert (customer.balance, customer.version) == (250_000, 2)  # opened, then moved
        txs = {tx.request_id: tx for tx in uow.session.execute(select(BankTransaction).where(
            BankTransaction.channel == "disbursement")).scalars()}
        assert sorted(txs) == ["pension:2026-12:1:1", "pension:2026-12:2:1",
                               "pension:2026-12:3:1", "pension:2026-12:4:1",
                               "pension:2026-12:9:1"]
        assert {(tx.kind, tx.counterparty) for tx in txs.values()} == {("credit", "CZ-SI")}
        assert txs["pension:2026-12:4:1"].status == "held"
        [audit] = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "bank.disbursement_processed")).scalars().all()
        assert audit.after["rows"]["held"] == ["pension:2026-12:4:1"]
        assert ["pension:2026-12:8:1", "unknown_account"] in audit.after["rows"]["failed"]
        # The result file is the held notice (the payer texts the holder): no message per row.
        held_events = uow.session.execute(select(BankOutboxMessage).where(
            BankOutboxMessage.type == "payment_held")).scalars().all()
        assert held_events == []
    statement = bank_platform.get(BankGateway).account_statement(
        bank_code="ICBC", pan=p["active"].pan, limit=5)
    assert [(x.kind, x.amount_fen, x.status, x.counterparty) for x in statement.payments] == [
        ("credit", 250_000, "posted", "CZ-SI")]


def test_activation_releases_the_held_row_from_the_payers_book(bank_platform, bank, files):
    card = account(bank_platform, bank, 320, "郑一", "not_activated")
    name, sm3 = drop_file(files, "youthtalent-202612-ICBC-0001",
                          [("youth_talent:2026-12:1:1", card.pan, "郑一", 300_000, "")])
    submit(bank_platform, "youthtalent-202612-ICBC-0001", name, sm3)
    assert payer_book(bank) == 0 and balance(bank, "ICBC", card.pan) == 0
    at_bank(bank, service.activate_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan,
            id_document_checked=True, card_checked=True)
    assert balance(bank, "ICBC", card.pan) == 300_000
    assert payer_book(bank) == -300_000
    with bank.uow() as uow:
        tx = uow.session.execute(select(BankTransaction).where(
            BankTransaction.request_id == "youth_talent:2026-12:1:1")).scalar_one()
        assert tx.status == "posted" and tx.settled_at is not None
        assert ledger.trial_balance(uow=uow).balanced


def test_the_same_batch_again_answers_the_same_receipt_and_pays_once(bank_platform, bank, files):
    card = account(bank_platform, bank, 330, "冯二")
    name, sm3 = drop_file(files, "pension-202612-ICBC-0002",
                          [("pension:2026-12:30:1", card.pan, "冯二", 90_000, "")])
    first = submit(bank_platform, "pension-202612-ICBC-0002", name, sm3)
    assert submit(bank_platform, "pension-202612-ICBC-0002", name, sm3) == first
    assert balance(bank, "ICBC", card.pan) == 90_000
    # the same batch id with another file is refused, and nothing moves
    other, other_sm3 = drop_file(files, "pension-202612-ICBC-0002",
                                 [("pension:2026-12:30:1", card.pan, "冯二", 95_000, "")])
    with pytest.raises(BankRefused):
        submit(bank_platform, "pension-202612-ICBC-0002", other, other_sm3)
    assert balance(bank, "ICBC", card.pan) == 90_000
    with bank.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(BankDisbursementBatch)).scalar() == 1


def test_a_row_ref_in_a_second_batch_answers_its_first_result(bank_platform, bank, files):
    paid = account(bank_platform, bank, 340, "陈三")
    waiting = account(bank_platform, bank, 341, "褚四", "not_activated")
    name, sm3 = drop_file(files, "pension-202612-ICBC-0003", [
        ("pension:2026-12:40:1", paid.pan, "陈三", 10_000, ""),
        ("pension:2026-12:41:1", waiting.pan, "褚四", 20_000, "")])
    submit(bank_platform, "pension-202612-ICBC-0003", name, sm3)
    name, sm3 = drop_file(files, "pension-202612-ICBC-0004", [
        ("pension:2026-12:40:1", paid.pan, "陈三", 10_000, "again"),   # same content: repeat
        ("pension:2026-12:41:1", waiting.pan, "褚四", 20_000, ""),
        ("pension:2026-12:40:1", paid.pan, "陈三", 10_000, ""),        # twice in this file too
        ("pension:2026-12:42:1", paid.pan, "陈三", 5_000, ""),         # new
        ("pension:2026-12:42:1", paid.pan, "陈三", 6_000, ""),         # same ref, other amount
        ("pension:2026-12:41:1", paid.pan, "陈三", 20_000, "")])       # other account
    submit(bank_platform, "pension-202612-ICBC-0004", name, sm3)
    header, _ = results(files, "pension-202612-ICBC-0004.result.csv")
    rows = bankfiles.parse_result_file(
        files.from_bank("ICBC", "pension-202612-ICBC-0004.result.csv").read_bytes())[1]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("pension:2026-12:40:1", "posted", ""), ("pension:2026-12:41:1", "held", ""),
        ("pension:2026-12:40:1", "posted", ""), ("pension:2026-12:42:1", "posted", ""),
        ("pension:2026-12:42:1", "failed", "row_ref_reused"),
        ("pension:2026-12:41:1", "failed", "row_ref_reused")]
    first = bankfiles.parse_result_file(
        files.from_bank("ICBC", "pension-202612-ICBC-0003.result.csv").read_bytes())[1]
    assert rows[0][3] == first[0][3]  # the repeat carries the first row's bank reference
    assert balance(bank, "ICBC", paid.pan) == 15_000  # 10,000 once, then the new 5,000
    assert payer_book(bank) == -15_000
    assert (header.posted_fen, header.held_fen, header.failed_fen) == (25_000, 20_000, 26_000)


@pytest.mark.parametrize("damage, message", [
    ("magic", "header"), ("checksum", "SM3"), ("count", "rows"), ("batch", "batch"),
    ("submitted_sm3", "SM3"), ("bad_row", "row 1"), ("missing", "file drop"),
    ("path", "file name"),
])
def test_a_bad_file_is_refused_and_nothing_is_recorded(bank_platform, bank, files, damage,
                                                       message):
    batch = "pension-202612-ICBC-0009"
    good = bankfiles.build_disbursement_file(
        batch_id=batch, bank_code="ICBC", payer_code="CZ-SI", pay_date=PAY_DAY,
        rows=[("pension:2026-12:50:1", "6212260000000000018", "卫五", 1_000, "")])
    head, body = good.split(b"\n", 1)
    fields = head.decode().split(",")
    if damage == "magic":
        data = good.replace(b"#YKT-DISB-1", b"#YKT-DISB-9")
    elif damage == "checksum":
        data = head + b"\n" + body.replace(b"1000", b"9000")
    elif damage == "count":
        fields[5] = "2"
        data = ",".join(fields).encode() + b"\n" + body
    elif damage == "batch":
        fields[1] = "pension-202612-ICBC-0010"
        data = ",".join(fields).encode() + b"\n" + body
    elif damage == "bad_row":
        bad = body.replace(b",1000,", b",-1000,")
        fields[7] = bankfiles.sm3_hex(bad)
        data = ",".join(fields).encode() + b"\n" + bad
    else:
        data = good
    name, sm3 = drop_file(files, batch, data=data)
    if damage == "submitted_sm3":
        sm3 = "0" * 64
    elif damage == "missing":
        name = "nothing-here.csv"
    elif damage == "path":
        name = "../../etc/passwd"
    with pytest.raises(BankRefused) as refused:
        submit(bank_platform, batch, name, sm3)
    assert message in refused.value.message_en
    with bank.uow() as uow:
        for table in (BankDisbursementBatch, BankTransaction, Journal):
            assert uow.session.execute(select(func.count()).select_from(table)).scalar() == 0


def test_a_receipt_always_reads_the_file_from_the_drop(bank_platform, bank, files, tmp_path):
    """The same file parsed before (a receipt that was rolled back) is no excuse: the bank
    reads the drop at every receipt."""
    rows = [("pension:2026-12:80:1", "6212260000000000018", "某", 100, "")]
    name, sm3 = drop_file(files, "pension-202612-ICBC-0030", rows)
    with bank.uow() as uow:  # received, then rolled back: nothing recorded
        disbursement.receive(uow=uow, files=files, bank_code="ICBC",
                             batch_id="pension-202612-ICBC-0030", file_name=name, sm3_hex=sm3)
    bank.files = FileDrop(tmp_path / "another-drop")  # the file is not in this one
    with pytest.raises(BankRefused):
        submit(bank_platform, "pension-202612-ICBC-0030", name, sm3)


def test_the_result_is_none_until_processed_and_rewritten_when_lost(bank_platform, bank, files):
    card = account(bank_platform, bank, 360, "蒋六")
    batch = "qclc-202612-ICBC-0001"
    name, sm3 = drop_file(files, batch, [("qclc:2026-12:60:1", card.pan, "蒋六", 500_000, "")])
    with bank.uow() as uow:  # received by the bank's node, not processed yet
        disbursement.receive(uow=uow, files=files, bank_code="ICBC", batch_id=batch,
                             file_name=name, sm3_hex=sm3)
        uow.commit()
    with bank.uow() as uow:
        assert disbursement.result_name(uow=uow, files=files, bank_code="ICBC",
                                        batch_id=batch) is None
    # in-process, asking for the result processes a batch left received
    path = files.from_bank("ICBC", result_of(bank_platform, batch))
    assert disbursement.process_received(bank) == 0
    written = path.read_bytes()
    path.unlink()
    assert result_of(bank_platform, batch) == path.name and path.read_bytes() == written
    assert not list(path.parent.glob("*.tmp"))
    with pytest.raises(BankRefused):
        result_of(bank_platform, "never-0001")


@pytest.mark.no_db
def test_two_writers_of_the_same_file_at_once_both_finish_and_leave_it_whole(tmp_path):
    """The node's processing and a request that finds the result missing may write the same
    result file at once; with one shared `.tmp` the inner writer renamed the outer's file away
    and the outer's rename failed (a CI run's FileNotFoundError)."""
    path = tmp_path / "from_bank" / "qclc-202612-ICBC-0002.result.csv"

    def outer() -> Iterator[bytes]:
        yield b"first half,"
        bankfiles.write_atomically(path, [b"first half,second half\n"])  # the other writer
        yield b"second half\n"

    bankfiles.write_atomically(path, outer())
    assert path.read_bytes() == b"first half,second half\n"
    assert [entry.name for entry in path.parent.iterdir()] == [path.name]


@pytest.mark.no_db
def test_a_writer_that_fails_leaves_neither_the_file_nor_its_temporary(tmp_path):
    path = tmp_path / "qclc-202612-ICBC-0003.result.csv"

    def broken() -> Iterator[bytes]:
        yield b"half"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        bankfiles.write_atomically(path, broken())
    assert list(tmp_path.iterdir()) == []


def test_the_bank_learns_the_holders_name_from_the_production_event(bank_platform, bank, files):
    from datetime import date as day

    from tests.banking.helpers import produce
    from yikatong.people.models import Person

    with bank_platform.uow() as uow:
        person = Person(name="欧阳 明", gender="1", birth_date=day(1960, 5, 1), nationality="CHN",
                        created_at=uow.now(), updated_at=uow.now())
        uow.session.add(person)
        uow.session.flush()
        person_id = person.id
        uow.commit()
    card = produce(bank_platform, person_id=person_id)
    with bank.uow() as uow:
        view = service.account_view_by_card(uow=uow, bank_code="ICBC", card_no=card.card_no)
        assert view.pan == card.pan
        assert service._by_card(uow, "ICBC", card.card_no).holder_name == "欧阳明"
    name, sm3 = drop_file(files, "pension-202612-ICBC-0020", [
        ("pension:2026-12:70:1", card.pan, "欧阳明", 1_000, ""),
        ("pension:2026-12:71:1", card.pan, "欧阳敏", 1_000, "")])
    submit(bank_platform, "pension-202612-ICBC-0020", name, sm3)
    _, by_ref = results(files, "pension-202612-ICBC-0020.result.csv")
    assert by_ref == {"pension:2026-12:70:1": ("held", ""),
                      "pension:2026-12:71:1": ("failed", "name_mismatch")}


def test_a_batch_whose_file_left_the_drop_waits_and_the_others_go_on(bank_platform, bank, files):
    from yikatong.banking.disbursement import _PARSED

    card = account(bank_platform, bank, 370, "沈七")
    first, first_sm3 = drop_file(files, "qclc-202612-ICBC-0002",
                                 [("qclc:2026-12:90:1", card.pan, "沈七", 700, "")])
    second, second_sm3 = drop_file(files, "qclc-202612-ICBC-0003",
                                   [("qclc:2026-12:91:1", card.pan, "沈七", 300, "")])
    with bank.uow() as uow:  # both received (by the node, say), neither processed yet
        for batch, name, sm3 in (("qclc-202612-ICBC-0002", first, first_sm3),
                                 ("qclc-202612-ICBC-0003", second, second_sm3)):
            disbursement.receive(uow=uow, files=files, bank_code="ICBC", batch_id=batch,
                                 file_name=name, sm3_hex=sm3)
        uow.commit()
    _PARSED.clear()  # a restart: nothing parsed in memory
    files.to_bank("ICBC", first).unlink()
    assert disbursement.process_received(bank) == 1
    assert balance(bank, "ICBC", card.pan) == 300
    with bank.uow() as uow:
        assert disbursement.batch_view(uow=uow, bank_code="ICBC",
                                       batch_id="qclc-202612-ICBC-0002").status == "received"


def test_a_batch_that_would_take_an_account_over_the_bound_pays_nobody(bank_platform, bank, files):
    """The bound is checked on every account the batch credits (on PostgreSQL on what the
    crediting statement returns): over it, the whole batch is undone and left received."""
    full, other = account(bank_platform, bank, 340, "褚一"), account(bank_platform, bank, 341, "卫二")
    name, sm3 = drop_file(files, "pension-202612-ICBC-0040",
                          [("pension:2026-12:40:1", full.pan, "褚一", 100, "")])
    submit(bank_platform, "pension-202612-ICBC-0040", name, sm3)
    with bank.uow() as uow:  # the customer's book one yuan short of the bound
        uow.session.execute(LedgerAccount.__table__.update()
                            .where(LedgerAccount.code == rules.customer_code("ICBC", full.pan))
                            .values(balance=MAX_BALANCE_FEN - 100))
        uow.commit()
    name, sm3 = drop_file(files, "pension-202612-ICBC-0041",
                          [("pension:2026-12:41:1", other.pan, "卫二", 500, ""),
                           ("pension:2026-12:42:1", full.pan, "褚一", 200, "")])
    submit(bank_platform, "pension-202612-ICBC-0041", name, sm3)
    assert result_of(bank_platform, "pension-202612-ICBC-0041") is None  # left received
    assert balance(bank, "ICBC", other.pan) == 0 and payer_book(bank) == -100
    with bank.uow() as uow:
        assert uow.session.execute(select(func.count()).select_from(Journal).where(
            Journal.kind == "bank_disbursement")).scalar_one() == 1
        assert uow.session.execute(select(BankDisbursementBatch.status).where(
            BankDisbursementBatch.batch_id == "pension-202612-ICBC-0041")).scalar_one() == "received"
