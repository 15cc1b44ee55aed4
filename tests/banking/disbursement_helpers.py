"""Accounts in every state and disbursement files for the bank's 代发 tests."""

from __future__ import annotations

from datetime import date

from tests.banking.helpers import at_bank, produce, teller
from yikatong.banking import bankfiles, payments, rules, service
from yikatong.banking.bankfiles import FileDrop

PAY_DAY = date(2026, 12, 15)


def account(platform, bank, person_id: int, name: str, state: str = "active"):
    """A produced card whose account the bank opened in `name`, put in `state`: active,
    not_activated, formal_loss, temporary_loss, frozen or closed."""
    card = produce(platform, person_id=person_id)
    at_bank(bank, service.open_account, bank_code=card.bank_code, card_no=card.card_no,
            pan=card.pan, issue_date=card.issue_date, holder_name=name)
    if state != "not_activated":
        at_bank(bank, service.activate_at_branch, actor=teller(), bank_code="ICBC", pan=card.pan,
                id_document_checked=True, card_checked=True)
    if state in ("formal_loss", "temporary_loss"):
        at_bank(bank, service.report_loss_at_branch, actor=teller(), bank_code="ICBC",
                pan=card.pan, kind=state)
    elif state == "frozen":
        at_bank(bank, service.freeze_account, actor=teller(), bank_code="ICBC", pan=card.pan,
                reason="court order")
    elif state == "closed":
        with bank.uow() as uow:
            payments.account_by_pan(uow, "ICBC", card.pan).status = str(rules.AccountStatus.CLOSED)
            uow.commit()
    return card


def drop_file(files: FileDrop, batch_id: str, rows=(), *, bank_code: str = "ICBC",
              payer: str = "CZ-SI", data: bytes | None = None) -> tuple[str, str]:
    """Write the batch's file into the drop; (file name, the SM3 its header states)."""
    data = data or bankfiles.build_disbursement_file(batch_id=batch_id, bank_code=bank_code,
                                                     payer_code=payer, pay_date=PAY_DAY, rows=rows)
    name = f"{batch_id}.csv"
    bankfiles.write_atomically(files.to_bank(bank_code, name), [data])
    return name, data.split(b"\n", 1)[0].decode().rsplit(",", 1)[-1]


def results(files: FileDrop, name: str, bank_code: str = "ICBC"):
    header, rows = bankfiles.parse_result_file(files.from_bank(bank_code, name).read_bytes())
    return header, {row[0]: (row[1], row[2]) for row in rows}
