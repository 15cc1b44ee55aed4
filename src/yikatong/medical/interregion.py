"""The Changzhou office's side of cross-region care: what it advanced for other regions' insured
people, what it owes for its own treated elsewhere, and the daily inter-region clearing.

Two directions (docs/medical-cross-region.md):

* `in` — a person insured in another region treated by one of our institutions
  (`settle_visiting`): the call goes through the national platform to the insured region's
  office, which settles with its own policy; our pooled fund is not charged. Our office pays
  the institution the fund's share and the personal account on that region's behalf:
  receivable from that region → the institution's account.
* `out` — our insured person treated in another region (`HomeOffice.settle`, reached by the
  national platform): we settle with our policy and the treatment region's catalogue; the fund
  and the personal account pay the *other region* (payable to it), not an institution of ours.

Each day `clear_day` writes the clearing file of one counterpart region (every `in` and `out`
row of the day not yet cleared), has the national platform check it against its book, and —
agreed to the fen — posts the clearing in one transaction with one audit record naming its
rows: payable and receivable of that region closed against the office's clearing bank account.

Ledger accounts: `medical:interregion:receivable:<admdvs>` (asset),
`medical:interregion:payable:<admdvs>` (liability), `medical:interregion:bank` (asset: the
office's clearing account at its bank; what the net settlement moves).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from yikatong.core.actor import Actor
from yikatong.core.money import Fen
from yikatong.db.exclusive import serialised
from yikatong.db.uow import UnitOfWork
from yikatong.ledger import service as ledger
from yikatong.ledger.rules import AccountKind
from yikatong.medical import crossregion, rules
from yikatong.medical import service as medical
from yikatong.medical.models import InterRegionBatch, InterRegionSettlement
from yikatong.medical.national import (
    HOME_ADMDVS,
    ClearingLine,
    NationalMedicalPlatform,
    NotCrossRegion,
    SettleAnswer,
    SettlementUnknown,
    VisitClaim,
    parse_clearing_file,
    render_clearing_file,
)

BANK = "medical:interregion:bank"


def receivable_account(admdvs: str) -> str:
    return f"medical:interregion:receivable:{admdvs}"


def payable_account(admdvs: str) -> str:
    return f"medical:interregion:payable:{admdvs}"


def institution_account(fixmedins_code: str) -> str:
    """What the fund owes a designated institution (the visit flow's account)."""
    return medical.payable_code(fixmedins_code)


def open_accounts(uow: UnitOfWork, counterpart: str, *, receivable: bool = True, payable: bool = True,
                  bank: bool = True) -> None:
    """A cancellation on a later day than its settlement's clearing turns the day's receivable
    (or payable) negative: what is owed back, cleared that day. Hence allow_negative."""
    if receivable:
        ledger.open_account(uow=uow, code=receivable_account(counterpart), kind=AccountKind.ASSET,
                            allow_negative=True)
    if payable:
        ledger.open_account(uow=uow, code=payable_account(counterpart), kind=AccountKind.LIABILITY,
                            allow_negative=True)
    if bank:
        ledger.open_account(uow=uow, code=BANK, kind=AccountKind.ASSET, allow_negative=True)


def region_of(admdvs: str, national: NationalMedicalPlatform) -> str:
    """The connected region (its office's admdvs) holding a division code."""
    return national.office(admdvs).admdvs


# -- rows ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RowView:
    id: int
    direction: str
    entry: str
    counterpart_admdvs: str
    setl_id: str
    fixmedins_code: str
    psn_no: str
    cross_region: str
    medfee_sumamt: Fen
    fund_pay_sumamt: Fen
    acct_pay: Fen
    psn_cash_pay: Fen
    owed: Fen
    day: date
    batch_id: int | None


def _row_view(row: InterRegionSettlement) -> RowView:
    return RowView(row.id, row.direction, row.entry, row.counterpart_admdvs, row.setl_id, row.fixmedins_code,
                   row.psn_no, row.cross_region, row.medfee_sumamt, row.fund_pay_sumamt, row.acct_pay,
                   row.psn_cash_pay, row.owed, row.day, row.batch_id)


def _find(uow: UnitOfWork, direction: str, setl_id: str, entry: str) -> InterRegionSettlement | None:
    return uow.session.execute(select(InterRegionSettlement).where(
        InterRegionSettlement.direction == direction, InterRegionSettlement.setl_id == setl_id,
        InterRegionSettlement.entry == entry)).scalar_one_or_none()


def record(uow: UnitOfWork, *, direction: str, answer: SettleAnswer, counterpart: str,
           person_id: int | None = None, totals_delta: dict | None = None) -> InterRegionSettlement:
    """Add the row of a cross-region settlement (or cancellation) — the caller posts and
    audits in the same transaction. A cancellation row negates the amounts and names the row
    it undoes."""
    entry = "cancel" if answer.cancelled else "settle"
    sign = -1 if answer.cancelled else 1
    original = _find(uow, direction, answer.setl_id, "settle") if answer.cancelled else None
    info = answer.setlinfo
    row = InterRegionSettlement(
        direction=direction, counterpart_admdvs=counterpart, insured_admdvs=answer.insuplc_admdvs,
        treatment_admdvs=answer.mdtrtarea_admvs, setl_id=answer.setl_id, entry=entry,
        reverses=original.id if original else None, fixmedins_code=answer.fixmedins_code, psn_no=answer.psn_no,
        person_id=person_id, cross_region=str(answer.cross_region), medfee_sumamt=sign * info.medfee_sumamt,
        fund_pay_sumamt=sign * info.fund_pay_sumamt, acct_pay=sign * info.acct_pay,
        psn_cash_pay=sign * info.psn_cash_pay, owed=answer.owed, day=crossregion.today(uow), batch_id=None,
        msgid=answer.msgid, policy_version=answer.policy_version, setlinfo=dataclasses.asdict(info),
        totals_delta=totals_delta or {}, created_at=uow.now())
    uow.session.add(row)
    uow.session.flush()
    return row


def _snapshot(row: InterRegionSettlement) -> dict:
    return {"direction": row.direction, "entry": row.entry, "counterpart": row.counterpart_admdvs,
            "setl_id": row.setl_id, "fixmedins_code": row.fixmedins_code, "cross_region": row.cross_region,
            "medfee_sumamt": row.medfee_sumamt, "fund_pay_sumamt": row.fund_pay_sumamt, "acct_pay": row.acct_pay,
            "owed": row.owed, "day": row.day.isoformat()}


# -- direction `in`: another region's insured person at one of our institutions ----------------

def classed_lines(*, lines: Sequence[tuple[str, int, Fen]], day: date) -> tuple[rules.FeeLine, ...]:
    """A visitor's fee lines (catalogue code, quantity, unit price) classed by *our* catalogue
    in force on `day` — the treatment region's catalogue — as the claim to the insured region
    carries them. Raises UnknownCatalogueCode."""
    classed = []
    for code, quantity, unit_price in lines:
        _, item = medical.catalogue_item(code=code, day=day)
        classed.append(rules.FeeLine(code=item.code, item_class=rules.ItemClass(item.item_class),
                                     amount=quantity * unit_price, price_limit=item.limit_for(quantity),
                                     pre_self_pay_bp=item.pre_self_pay_bp))
    return tuple(classed)


def settle_visiting(*, uow: UnitOfWork, actor: Actor, national: NationalMedicalPlatform,
                    claim: VisitClaim, commit: bool = True) -> SettleAnswer:
    """Settle a visit of a person insured elsewhere at our institution `claim.fixmedins_code`:
    the insured region settles it through the national platform; our office pays the institution
    the fund's share and the personal account, receivable from that region. Our pooled fund is
    not touched. Retrying the same msgid answers the same settlement and changes nothing more.
    Raises what the platform raises (RegionNotConnected, PersonNotInsured, MessageReused,
    NotCrossRegion). Commits (with `commit` False, the visit flow's transaction commits: the
    visit's settlement row and this row go in together)."""
    if crossregion.is_home(claim.insuplc_admdvs) or not crossregion.is_home(claim.mdtrtarea_admvs):
        raise NotCrossRegion(admdvs=claim.insuplc_admdvs)
    answer = national.settle(claim)
    if _find(uow, "in", answer.setl_id, "settle") is None:
        counterpart = region_of(answer.insuplc_admdvs, national)
        _post_in(uow, actor, answer, counterpart, commit=commit)
    return answer


def cancel_visiting(*, uow: UnitOfWork, actor: Actor, national: NationalMedicalPlatform, setl_id: str,
                    msgid: str, commit: bool = True) -> SettleAnswer:
    """Cancel such a settlement (2208/2305): the insured region restores its totals and
    account; our office takes back from the institution what it paid, and the receivable
    shrinks by the same. Idempotent by msgid. Commits."""
    row = _find(uow, "in", setl_id, "settle")
    if row is None:
        raise SettlementUnknown(setl_id=setl_id)
    answer = national.cancel(mdtrtarea_admvs=row.treatment_admdvs, fixmedins_code=row.fixmedins_code,
                             setl_id=setl_id, insuplc_admdvs=row.insured_admdvs, msgid=msgid,
                             day=crossregion.today(uow))
    if _find(uow, "in", setl_id, "cancel") is None:
        _post_in(uow, actor, answer, row.counterpart_admdvs, commit=commit)
    return answer


def _post_in(uow: UnitOfWork, actor: Actor, answer: SettleAnswer, counterpart: str, *, commit: bool = True) -> None:
    open_accounts(uow, counterpart, payable=False, bank=False)
    row = record(uow, direction="in", answer=answer, counterpart=counterpart)
    institution = institution_account(answer.fixmedins_code)
    # as the visit flow opens it: an institution may owe a cancellation back after being paid
    ledger.open_account(uow=uow, code=institution, kind=AccountKind.LIABILITY, allow_negative=True)
    if row.owed:
        ledger.post(uow=uow, request_id=f"medical:interregion:in:{row.entry}:{answer.setl_id}",
                    kind="medical.interregion_in", memo=f"{answer.insuplc_admdvs} {answer.setl_id}",
                    legs=[(receivable_account(counterpart), row.owed), (institution, -row.owed)])
    uow.audit(actor=actor, action=f"medical.interregion_{'cancelled' if answer.cancelled else 'settled'}",
              entity_type="medical_interregion_settlement", entity_id=row.id, after=_snapshot(row))
    if commit:
        uow.commit()


def visiting_row(*, uow: UnitOfWork, fixmedins_code: str, msgid: str) -> RowView | None:
    """The `in` row an institution's message (its settle or cancel msgid) booked, if any."""
    row = uow.session.execute(select(InterRegionSettlement).where(
        InterRegionSettlement.direction == "in", InterRegionSettlement.fixmedins_code == fixmedins_code,
        InterRegionSettlement.msgid == msgid)).scalar_one_or_none()
    return _row_view(row) if row is not None else None


# -- direction `out`: our insured person treated elsewhere --------------------------------------

def post_out(uow: UnitOfWork, actor: Actor, answer: SettleAnswer, *, counterpart: str, person_id: int,
             paid_from: dict[str, Fen], totals_delta: dict) -> RowView:
    """Book our person's settlement in another region (inside the HomeOffice's transaction):
    the row, and the money from `paid_from` (ledger account → fen: the pooled fund, the personal
    account; a cancellation passes them back with the same signs) into the payable to the
    treatment region. Audited; the caller commits."""
    open_accounts(uow, counterpart, receivable=False, bank=False)
    row = record(uow, direction="out", answer=answer, counterpart=counterpart, person_id=person_id,
                 totals_delta=totals_delta)
    sign = -1 if answer.cancelled else 1
    legs = [(code, sign * amount) for code, amount in paid_from.items() if amount]
    if legs:
        legs.append((payable_account(counterpart), -sum(amount for _, amount in legs)))
        ledger.post(uow=uow, request_id=f"medical:interregion:out:{row.entry}:{answer.setl_id}",
                    kind="medical.interregion_out", memo=f"{answer.mdtrtarea_admvs} {answer.setl_id}", legs=legs)
    uow.audit(actor=actor, action=f"medical.interregion_{'cancelled' if answer.cancelled else 'settled'}",
              entity_type="medical_interregion_settlement", entity_id=row.id, after=_snapshot(row))
    return _row_view(row)


# -- the daily clearing ---------------------------------------------------------------------------

@dataclass(frozen=True)
class BatchView:
    id: int
    file_id: str
    counterpart_admdvs: str
    day: date
    rows: int
    receivable: Fen
    payable: Fen
    net: Fen
    digest: str
    status: str
    differences: dict
    created_at: datetime


def _batch_view(batch: InterRegionBatch) -> BatchView:
    return BatchView(batch.id, batch.file_id, batch.counterpart_admdvs, batch.day, batch.rows, batch.receivable,
                     batch.payable, batch.net, batch.digest, batch.status, dict(batch.differences or {}),
                     batch.created_at)


def _line(row: InterRegionSettlement) -> ClearingLine:
    return ClearingLine(row.setl_id, row.direction, row.entry, row.insured_admdvs, row.treatment_admdvs, row.fixmedins_code,
                        row.psn_no, row.medfee_sumamt, row.fund_pay_sumamt, row.acct_pay, row.owed)


def _file_id(counterpart: str, day: date, attempt: int) -> str:
    return f"{HOME_ADMDVS}-MIC-{counterpart}-{day:%Y%m%d}-{attempt:02d}"


def clear_day(*, uow: UnitOfWork, actor: Actor, national: NationalMedicalPlatform, counterpart_admdvs: str,
              day: date) -> BatchView:
    """Clear one day with one region: every row of that day and region not yet cleared goes
    into a clearing file; the national platform checks it against its book. Agreed: the rows
    join the batch and the clearing is posted (payable debited, receivable credited, the net
    through the office's bank account) — one transaction, one audit record naming the rows.
    Disputed: the batch records the attempt and the differences, nothing is posted and the rows
    stay open. Run again for an agreed day and region with nothing new, it answers that batch;
    rows booked that day after it (a late settlement or cancellation) make a further batch
    (file id suffix -02, -03 …). Commits."""
    crossregion.check_admdvs(counterpart_admdvs)
    # The hourly job and `ykt medical clear-regions` at once both read the open rows and the
    # attempts before either committed: on PostgreSQL the second crashed on the file id or wrote
    # a spurious disputed -02 that stops the job. One clearing of a region's day at a time.
    serialised(uow.session, f"medical.interregion_clearing:{counterpart_admdvs}:{day.isoformat()}")
    rows = list(uow.session.execute(select(InterRegionSettlement).where(
        InterRegionSettlement.counterpart_admdvs == counterpart_admdvs, InterRegionSettlement.day == day,
        InterRegionSettlement.batch_id.is_(None)).order_by(InterRegionSettlement.id)).scalars())
    agreed = uow.session.execute(select(InterRegionBatch).where(
        InterRegionBatch.counterpart_admdvs == counterpart_admdvs, InterRegionBatch.day == day,
        InterRegionBatch.status == "agreed").order_by(InterRegionBatch.id.desc()).limit(1)).scalar_one_or_none()
    if agreed is not None and not rows:
        return _batch_view(agreed)
    attempts = uow.session.execute(select(func.count()).select_from(InterRegionBatch).where(
        InterRegionBatch.counterpart_admdvs == counterpart_admdvs, InterRegionBatch.day == day)).scalar_one()
    file_id = _file_id(counterpart_admdvs, day, attempts + 1)
    text = render_clearing_file(file_id=file_id, sender=HOME_ADMDVS, counterpart=counterpart_admdvs, day=day,
                                created=uow.now(), lines=[_line(row) for row in rows])
    sent = parse_clearing_file(text)
    check = national.check_clearing_file(text)
    batch = InterRegionBatch(
        file_id=file_id, counterpart_admdvs=counterpart_admdvs, day=day, rows=len(rows), receivable=sent.receivable,
        payable=sent.payable, net=sent.net, digest=sent.digest, status="agreed" if check.agreed else "disputed",
        differences={} if check.agreed else {"missing": list(check.missing), "unknown": list(check.unknown),
                                             "platform_receivable": check.receivable,
                                             "platform_payable": check.payable},
        created_at=uow.now(), created_by=actor.user_id)
    uow.session.add(batch)
    uow.session.flush()
    if check.agreed:
        for row in rows:
            row.batch_id = batch.id
        legs = [(payable_account(counterpart_admdvs), sent.payable),
                (receivable_account(counterpart_admdvs), -sent.receivable), (BANK, sent.net)]
        legs = [leg for leg in legs if leg[1]]
        if legs:
            open_accounts(uow, counterpart_admdvs)
            ledger.post(uow=uow, request_id=f"medical:interregion:clearing:{file_id}",
                        kind="medical.interregion_clearing", memo=file_id, legs=legs)
    uow.audit(actor=actor, action=f"medical.interregion_clearing_{batch.status}",
              entity_type="medical_interregion_batch", entity_id=file_id,
              after={"counterpart": counterpart_admdvs, "day": day.isoformat(), "rows": [row.id for row in rows],
                     "receivable": sent.receivable, "payable": sent.payable, "net": sent.net,
                     "digest": sent.digest, "status": batch.status, **({} if check.agreed else batch.differences)})
    uow.commit()
    return _batch_view(batch)


def open_regions(*, uow: UnitOfWork, day: date) -> list[str]:
    """The regions with rows booked on `day` and not yet cleared, in region order."""
    return sorted(set(uow.session.execute(select(InterRegionSettlement.counterpart_admdvs).where(
        InterRegionSettlement.day == day, InterRegionSettlement.batch_id.is_(None))).scalars()))


def clear_all(*, uow: UnitOfWork, actor: Actor, national: NationalMedicalPlatform, day: date) -> list[BatchView]:
    """Clear `day` with every region that has rows not yet cleared that day (the daily job):
    one batch (one transaction) per region, in region order."""
    return [clear_day(uow=uow, actor=actor, national=national, counterpart_admdvs=region, day=day)
            for region in open_regions(uow=uow, day=day)]


def clearing_file(*, uow: UnitOfWork, file_id: str) -> str:
    """The text of an agreed clearing file, rebuilt from its rows (its digest checked against
    the one recorded)."""
    batch = uow.session.execute(select(InterRegionBatch).where(InterRegionBatch.file_id == file_id)).scalar_one()
    rows = uow.session.execute(select(InterRegionSettlement).where(InterRegionSettlement.batch_id == batch.id)
                               .order_by(InterRegionSettlement.id)).scalars()
    text = render_clearing_file(file_id=file_id, sender=HOME_ADMDVS, counterpart=batch.counterpart_admdvs,
                                day=batch.day, created=batch.created_at, lines=[_line(row) for row in rows])
    if parse_clearing_file(text).digest != batch.digest:
        raise ValueError(f"clearing file {file_id} no longer matches its digest")
    return text


def rows(*, uow: UnitOfWork, counterpart_admdvs: str | None = None, day: date | None = None,
         person_id: int | None = None) -> list[RowView]:
    """Cross-region rows, oldest first, optionally of one region, day and/or one of our insured
    people (their care elsewhere: what the holder sees beside their visits at home)."""
    query = select(InterRegionSettlement).order_by(InterRegionSettlement.id)
    if person_id is not None:
        query = query.where(InterRegionSettlement.person_id == person_id)
    if counterpart_admdvs is not None:
        query = query.where(InterRegionSettlement.counterpart_admdvs == counterpart_admdvs)
    if day is not None:
        query = query.where(InterRegionSettlement.day == day)
    return [_row_view(row) for row in uow.session.execute(query).scalars()]


def batches(*, uow: UnitOfWork, counterpart_admdvs: str | None = None) -> list[BatchView]:
    query = select(InterRegionBatch).order_by(InterRegionBatch.id)
    if counterpart_admdvs is not None:
        query = query.where(InterRegionBatch.counterpart_admdvs == counterpart_admdvs)
    return [_batch_view(batch) for batch in uow.session.execute(query).scalars()]
