"""The visit lifecycle at the service level: outpatient, inpatient and pharmacy; settlement,
cancellation, msgid replay, reversal, a crash before commit, and who may see what (on SQLite
and PostgreSQL)."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.cards.conftest import PHONE, act
from tests.medical.conftest import (
    COMMUNITY,
    HOSPITAL,
    OFFICE,
    OTHER_HOSPITAL,
    PHARMACY,
    TODAY,
    institution,
    insured,
    registered,
)
from yikatong.audit.models import AuditRecord
from yikatong.cards import service as cards
from yikatong.db.uow import UnitOfWork
from yikatong.ledger import service as ledger
from yikatong.medical import errors, rules, service, visits
from yikatong.medical.models import FeeLine, HandledMessage, Settlement, Visit
from yikatong.medical.policy import policy_in_force
from yikatong.medical.visits import FeeInput

pytestmark = pytest.mark.db

_seq = itertools.count(1)

CONSULT_CHIEF = "001102000030000"   # B, limit 35.00, pre-self-pay 10 %
ATORVASTATIN = "XC10AAA040A001010100345"  # B, no limit, 10 %
BLOOD_COUNT = "002101000010000"     # A, limit 20.00
VITAMIN_C = "XA11GAV010A001010109999"  # C
BED = "001103000010000"             # A, limit 45.00 a day
APPENDECTOMY = "003301000010000"    # A, limit 1800.00
CEFTRIAXONE = "XJ01DDA040B002010100567"  # B, 5 %
METFORMIN = "XA10BAE010A001010100123"  # A


def msgid(code: str = HOSPITAL) -> str:
    return f"{code}20260302093000{next(_seq):04d}"


def call(platform, operation, code: str = HOSPITAL, **kwargs):
    with platform.uow() as uow:
        return operation(uow=uow, actor=institution(code), **kwargs)


def outpatient_lines() -> list[FeeInput]:
    return [FeeInput("1", CONSULT_CHIEF, 1, 4_000), FeeInput("2", ATORVASTATIN, 2, 3_500),
            FeeInput("3", BLOOD_COUNT, 1, 2_000, amount=2_000), FeeInput("4", VITAMIN_C, 1, 1_500)]


def outpatient_visit(platform, cert_no: str, *, cert_type: str = "03", code: str = HOSPITAL):
    visit = call(platform, visits.register, code=code, msgid=msgid(code), cert_type=cert_type,
                 cert_no=cert_no, dept="心内科")
    call(platform, visits.upload_fees, code=code, msgid=msgid(code), mdtrt_id=visit.mdtrt_id,
         lines=outpatient_lines())
    return visit


def counts(platform) -> dict[str, int]:
    with platform.uow() as uow:
        return {model.__name__: uow.session.execute(select(func.count()).select_from(model)).scalar_one()
                for model in (Visit, FeeLine, Settlement, HandledMessage)}


def money(platform, person_id: int, code: str = HOSPITAL) -> dict:
    """Everything a settlement moves: the person's year, the account, the pool, the payable."""
    with platform.uow() as uow:
        balances = ledger.trial_balance(uow=uow).balances
        return {"year": service.year_totals(uow=uow, person_id=person_id, year=2026),
                "account": service.account_balance(uow=uow, person_id=person_id),
                "pool": balances.get(service.pool_code("320402"), 0),
                "payable": balances.get(service.payable_code(code), 0)}


def check_invariants(info: dict) -> None:
    assert info["medfee_sumamt"] == info["fund_pay_sumamt"] + info["psn_part_amt"] + info["hosp_part_amt"]
    assert info["psn_part_amt"] == info["acct_pay"] + info["psn_cash_pay"]
    assert all(value >= 0 for value in info.values())


@pytest.fixture
def person(platform, reference):
    """An insured employee in service with 500.00 in the personal account: (ssn, id, card)."""
    return insured(platform, credit=50_000)


def test_a_full_outpatient_visit(platform, person):
    ssn, person_id, card_no = person
    visit = call(platform, visits.register, msgid=msgid(), cert_type="03", cert_no=card_no)
    assert (visit.state, visit.med_type, visit.insutype, visit.person_id) == ("open", "11", "310", person_id)
    upload = call(platform, visits.upload_fees, msgid=msgid(), mdtrt_id=visit.mdtrt_id,
                  lines=outpatient_lines())
    assert [(x.item_class, x.price_limit, x.pre_self_pay_bp) for x in upload.lines] == [
        ("B", 3_500, 1_000), ("B", None, 1_000), ("A", 2_000, 0), ("C", None, 0)]
    before = counts(platform)
    preview = call(platform, visits.pre_settle, mdtrt_id=visit.mdtrt_id, cert_type="03", cert_no=card_no)
    assert counts(platform) == before and preview.setl_id is None and preview.state == "preview"

    settled = call(platform, visits.settle, msgid=msgid(), mdtrt_id=visit.mdtrt_id, cert_type="03",
                   cert_no=card_no, medfee_sumamt=14_500)
    assert settled.setlinfo == preview.setlinfo
    # the catalogue's class, limit and ratio reach the rules: the same as settling these lines directly
    expected = rules.settle(
        policy=policy_in_force(TODAY),
        insured=rules.Insured(scheme=rules.Scheme.EMPLOYEE, retired=False, account_balance=50_000),
        encounter=rules.Encounter(med_type=rules.MedType.OUTPATIENT, level=rules.Level.THREE),
        lines=[rules.FeeLine(CONSULT_CHIEF, rules.ItemClass.B, 4_000, 3_500, 1_000),
               rules.FeeLine(ATORVASTATIN, rules.ItemClass.B, 7_000, None, 1_000),
               rules.FeeLine(BLOOD_COUNT, rules.ItemClass.A, 2_000, 2_000, 0),
               rules.FeeLine(VITAMIN_C, rules.ItemClass.C, 1_500, None, 0)],
        year=rules.YearTotals())
    assert settled.setlinfo == dataclasses.asdict(expected.setlinfo)
    assert settled.policy_version == expected.policy_version == policy_in_force(TODAY).version
    info = settled.setlinfo
    check_invariants(info)
    assert (info["medfee_sumamt"], info["overlmt_selfpay"], info["fulamt_ownpay_amt"]) == (14_500, 500, 1_500)

    after = money(platform, person_id)
    assert after["year"] == expected.totals_delta
    assert after["account"] == 50_000 - info["acct_pay"] == info["balc"]
    assert after["pool"] == info["fund_pay_sumamt"]
    assert after["payable"] == info["fund_pay_sumamt"] + info["acct_pay"]
    with platform.uow() as uow:
        row = uow.session.execute(select(Settlement)).scalar_one()
        assert (row.policy_version, row.catalogue_version, row.state) == (
            settled.policy_version, "CZ-2026.1", "settled")
        assert all(getattr(row, name) == value for name, value in info.items())
        assert ledger.trial_balance(uow=uow).balanced
        assert uow.session.execute(select(AuditRecord).where(
            AuditRecord.entity_type == "medical_settlement",
            AuditRecord.entity_id == settled.setl_id)).scalar_one().action == "medical.settled"
        assert visits.get_visit(uow=uow, actor=institution(), mdtrt_id=visit.mdtrt_id).state == "settled"
        slip = visits.get_settlement(uow=uow, actor=institution(), setl_id=settled.setl_id)
        assert slip.setlinfo == info and slip.year_totals == dataclasses.asdict(after["year"])


def test_cancel_restores_every_total_and_posting_exactly(platform, person):
    ssn, person_id, card_no = person
    first = outpatient_visit(platform, card_no)
    settled_first = call(platform, visits.settle, msgid=msgid(), mdtrt_id=first.mdtrt_id,
                         cert_type="02", cert_no=ssn)
    before = money(platform, person_id)
    visit = outpatient_visit(platform, card_no)
    settled = call(platform, visits.settle, msgid=msgid(), mdtrt_id=visit.mdtrt_id,
                   cert_type="03", cert_no=card_no)
    assert money(platform, person_id) != before
    cancelled = call(platform, visits.cancel, msgid=msgid(), setl_id=settled.setl_id,
                     mdtrt_id=visit.mdtrt_id)
    assert cancelled.state == "cancelled"
    assert money(platform, person_id) == before
    with pytest.raises(errors.SettlementCancelled):
        call(platform, visits.cancel, msgid=msgid(), setl_id=settled.setl_id, mdtrt_id=visit.mdtrt_id)
    # the lines are free again: settling them again gives the same answer as the first time
    again = call(platform, visits.settle, msgid=msgid(), mdtrt_id=visit.mdtrt_id, cert_type="03",
                 cert_no=card_no)
    assert again.setlinfo == settled.setlinfo and again.setl_id != settled.setl_id
    assert settled_first.setlinfo["act_pay_dedc"] >= settled.setlinfo["act_pay_dedc"]
    with platform.uow() as uow:
        assert ledger.trial_balance(uow=uow).balanced


def test_the_same_msgid_answers_the_first_answer_and_changes_nothing(platform, person):
    ssn, person_id, card_no = person
    register_id = msgid()
    visit = call(platform, visits.register, msgid=register_id, cert_type="03", cert_no=card_no)
    assert call(platform, visits.register, msgid=register_id, cert_type="03",
                cert_no=card_no) == visit
    upload_id = msgid()
    uploaded = call(platform, visits.upload_fees, msgid=upload_id, mdtrt_id=visit.mdtrt_id,
                    lines=outpatient_lines())
    assert call(platform, visits.upload_fees, msgid=upload_id, mdtrt_id=visit.mdtrt_id,
                lines=outpatient_lines()) == uploaded
    settle_id = msgid()
    settled = call(platform, visits.settle, msgid=settle_id, mdtrt_id=visit.mdtrt_id,
                   cert_type="03", cert_no=card_no)
    before, totals = counts(platform), money(platform, person_id)
    assert call(platform, visits.settle, msgid=settle_id, mdtrt_id=visit.mdtrt_id,
                cert_type="03", cert_no=card_no) == settled
    assert counts(platform) == before and money(platform, person_id) == totals
    with pytest.raises(errors.MsgidReused):
        call(platform, visits.settle, msgid=settle_id, mdtrt_id=visit.mdtrt_id, cert_type="02",
             cert_no=ssn)
    # another institution may use the same msgid text: msgids are unique per institution
    other = call(platform, visits.register, code=OTHER_HOSPITAL, msgid=register_id,
                 cert_type="02", cert_no=ssn)
    assert other.mdtrt_id != visit.mdtrt_id


def test_a_crash_before_commit_leaves_nothing(platform, person, monkeypatch):
    ssn, person_id, card_no = person
    visit = outpatient_visit(platform, card_no)
    before, totals = counts(platform), money(platform, person_id)
    real_commit = UnitOfWork.commit

    def crash(self):
        raise RuntimeError("the process died before the commit")

    monkeypatch.setattr(UnitOfWork, "commit", crash)
    settle_id = msgid()
    with pytest.raises(RuntimeError):
        call(platform, visits.settle, msgid=settle_id, mdtrt_id=visit.mdtrt_id, cert_type="03",
             cert_no=card_no)
    monkeypatch.setattr(UnitOfWork, "commit", real_commit)
    assert counts(platform) == before and money(platform, person_id) == totals
    with platform.uow() as uow:
        assert ledger.trial_balance(uow=uow).balanced
    settled = call(platform, visits.settle, msgid=settle_id, mdtrt_id=visit.mdtrt_id,
                   cert_type="03", cert_no=card_no)  # the retry lands once
    assert settled.state == "settled" and counts(platform)["Settlement"] == 1


def test_an_inpatient_admission(platform, person):
    ssn, person_id, card_no = person
    stay = call(platform, visits.admit, msgid=msgid(), cert_type="02", cert_no=ssn, dise_codg="K35.800")
    assert (stay.med_type, stay.state) == ("21", "open")
    lines = [FeeInput("B1", BED, 5, 4_500), FeeInput("S1", APPENDECTOMY, 1, 200_000),
             FeeInput("D1", CEFTRIAXONE, 10, 3_000)]
    call(platform, visits.upload_fees, msgid=msgid(), mdtrt_id=stay.mdtrt_id, lines=lines)
    discharged = call(platform, visits.discharge, msgid=msgid(), mdtrt_id=stay.mdtrt_id)
    assert discharged.state == "discharged" and discharged.end_at is not None
    settled = call(platform, visits.settle, msgid=msgid(), mdtrt_id=stay.mdtrt_id,
                   cert_type="02", cert_no=ssn)
    check_invariants(settled.setlinfo)
    assert settled.setlinfo["overlmt_selfpay"] == 20_000  # the surgery above its 1800.00 limit
    assert settled.setlinfo["act_pay_dedc"] > 0 and settled.setlinfo["hifp_pay"] > 0
    with platform.uow() as uow:
        year = service.year_totals(uow=uow, person_id=person_id, year=2026)
    assert (year.inpatient_admissions, year.inpatient_fund) == (1, settled.setlinfo["hifp_pay"])
    with pytest.raises(errors.InvalidMedType):  # only an inpatient is discharged
        visit = outpatient_visit(platform, card_no)
        call(platform, visits.discharge, msgid=msgid(), mdtrt_id=visit.mdtrt_id)


def test_a_pharmacy_purchase_in_one_call_and_by_steps(platform, person):
    ssn, person_id, card_no = person
    lines = [FeeInput("1", METFORMIN, 2, 1_800), FeeInput("2", VITAMIN_C, 1, 2_500)]
    bought = call(platform, visits.purchase, code=PHARMACY, msgid=msgid(PHARMACY), cert_type="03",
                  cert_no=card_no, lines=lines)
    assert (bought.med_type, bought.state, bought.setlinfo["medfee_sumamt"]) == ("41", "settled", 6_100)
    check_invariants(bought.setlinfo)
    visit = call(platform, visits.register, code=PHARMACY, msgid=msgid(PHARMACY), cert_type="02",
                 cert_no=ssn, med_type="41")
    call(platform, visits.upload_fees, code=PHARMACY, msgid=msgid(PHARMACY), mdtrt_id=visit.mdtrt_id,
         lines=lines)
    stepwise = call(platform, visits.settle, code=PHARMACY, msgid=msgid(PHARMACY),
                    mdtrt_id=visit.mdtrt_id, cert_type="02", cert_no=ssn)
    assert stepwise.setlinfo["medfee_sumamt"] == 6_100 and stepwise.med_type == "41"
    with pytest.raises(errors.InvalidMedType):
        call(platform, visits.register, code=PHARMACY, msgid=msgid(PHARMACY), cert_type="02",
             cert_no=ssn)  # a pharmacy has no outpatient consultation (11)
    with pytest.raises(errors.InvalidMedType):
        call(platform, visits.purchase, msgid=msgid(), cert_type="02", cert_no=ssn, lines=lines)
    with pytest.raises(errors.InvalidMedType):
        call(platform, visits.admit, code=PHARMACY, msgid=msgid(PHARMACY), cert_type="02", cert_no=ssn)
    cancelled = call(platform, visits.cancel, code=PHARMACY, msgid=msgid(PHARMACY),
                     setl_id=bought.setl_id, mdtrt_id=bought.mdtrt_id)
    assert cancelled.state == "cancelled"
    with platform.uow() as uow:
        assert visits.get_visit(uow=uow, actor=institution(PHARMACY),
                                mdtrt_id=bought.mdtrt_id).state == "cancelled"


def test_reversal_of_a_settlement_an_upload_and_a_message_that_never_landed(platform, person):
    ssn, person_id, card_no = person
    visit = call(platform, visits.register, msgid=msgid(), cert_type="03", cert_no=card_no)
    upload_id = msgid()
    call(platform, visits.upload_fees, msgid=upload_id, mdtrt_id=visit.mdtrt_id, lines=outpatient_lines())
    reversed_upload = call(platform, visits.reverse, msgid=msgid(), omsgid=upload_id, oinfno="2204")
    assert reversed_upload.outcome == "reversed"
    with platform.uow() as uow:
        assert visits.visit_lines(uow=uow, actor=institution(), mdtrt_id=visit.mdtrt_id) == []
    call(platform, visits.upload_fees, msgid=msgid(), mdtrt_id=visit.mdtrt_id, lines=outpatient_lines())

    before = money(platform, person_id)
    settle_id = msgid()
    settled = call(platform, visits.settle, msgid=settle_id, mdtrt_id=visit.mdtrt_id,
                   cert_type="03", cert_no=card_no)
    with pytest.raises(errors.CannotReverse):  # the original was a 2207
        call(platform, visits.reverse, msgid=msgid(), omsgid=settle_id, oinfno="2208")
    outcome = call(platform, visits.reverse, msgid=msgid(), omsgid=settle_id, oinfno="2207")
    assert outcome.outcome == "reversed" and settled.setl_id in outcome.detail
    assert money(platform, person_id) == before
    assert call(platform, visits.reverse, msgid=msgid(), omsgid=settle_id,
                oinfno="2207").outcome == "already_reversed"
    assert money(platform, person_id) == before

    lost = msgid()
    assert call(platform, visits.reverse, msgid=msgid(), omsgid=lost,
                oinfno="2207").outcome == "never_landed"
    with pytest.raises(errors.MessageReversed):  # the original arrives late: refused
        call(platform, visits.settle, msgid=lost, mdtrt_id=visit.mdtrt_id, cert_type="03",
             cert_no=card_no)
    assert money(platform, person_id) == before


def test_another_institution_sees_nothing_of_a_visit(platform, person):
    ssn, person_id, card_no = person
    visit = outpatient_visit(platform, card_no)
    settled = call(platform, visits.settle, msgid=msgid(), mdtrt_id=visit.mdtrt_id,
                   cert_type="03", cert_no=card_no)
    with pytest.raises(errors.VisitNotFound):
        call(platform, visits.upload_fees, code=OTHER_HOSPITAL, msgid=msgid(OTHER_HOSPITAL),
             mdtrt_id=visit.mdtrt_id, lines=outpatient_lines())
    with pytest.raises(errors.VisitNotFound):
        call(platform, visits.pre_settle, code=OTHER_HOSPITAL, mdtrt_id=visit.mdtrt_id,
             cert_type="03", cert_no=card_no)
    with pytest.raises(errors.SettlementNotFound):
        call(platform, visits.cancel, code=OTHER_HOSPITAL, msgid=msgid(OTHER_HOSPITAL),
             setl_id=settled.setl_id, mdtrt_id=visit.mdtrt_id)
    with platform.uow() as uow:
        with pytest.raises(errors.VisitNotFound):
            visits.get_visit(uow=uow, actor=institution(OTHER_HOSPITAL), mdtrt_id=visit.mdtrt_id)
        with pytest.raises(errors.SettlementNotFound):
            visits.get_settlement(uow=uow, actor=institution(OTHER_HOSPITAL), setl_id=settled.setl_id)
        assert visits.settlements(uow=uow, actor=institution(OTHER_HOSPITAL)) == []
        assert [s.setl_id for s in visits.settlements(uow=uow, actor=institution(), day=TODAY)] \
            == [settled.setl_id]
        assert visits.settlements(uow=uow, actor=institution(), day=TODAY + timedelta(days=1)) == []


def test_not_enrolled_is_refused_and_nothing_is_written(platform, reference):
    ssn, _ = registered(platform)
    before = counts(platform)
    with pytest.raises(errors.NotEnrolled):
        call(platform, visits.register, msgid=msgid(), cert_type="02", cert_no=ssn)
    assert counts(platform) == before


def test_a_card_lost_since_registration_is_refused_but_the_id_number_settles(platform, person):
    ssn, person_id, card_no = person
    visit = outpatient_visit(platform, card_no)
    act(platform, cards.report_loss, actor=PHONE, card_no=card_no, kind="temporary")
    with pytest.raises(errors.CredentialRefused) as refused:
        call(platform, visits.settle, msgid=msgid(), mdtrt_id=visit.mdtrt_id, cert_type="03",
             cert_no=card_no)
    assert refused.value.details["reason"] == "card_lost"
    assert counts(platform)["Settlement"] == 0
    settled = call(platform, visits.settle, msgid=msgid(), mdtrt_id=visit.mdtrt_id, cert_type="02",
                   cert_no=ssn)
    assert settled.cert_type == "02" and settled.state == "settled"


def test_someone_elses_credential_cannot_settle_a_visit(platform, person):
    ssn, person_id, card_no = person
    other_ssn, _, _ = insured(platform, name="李四")
    visit = outpatient_visit(platform, card_no)
    with pytest.raises(errors.CredentialOfAnotherPerson):
        call(platform, visits.settle, msgid=msgid(), mdtrt_id=visit.mdtrt_id, cert_type="02",
             cert_no=other_ssn)


REFUSED_UPLOADS = [
    ([FeeInput("1", "XX00000000000", 1, 100)], errors.UnknownCatalogueCode),
    ([FeeInput("1", BLOOD_COUNT, 2, 1_000, amount=1_999)], errors.InvalidFeeLine),
    ([FeeInput("1", BLOOD_COUNT, 0, 1_000)], errors.InvalidFeeLine),
    ([FeeInput("1", BLOOD_COUNT, 1, -1)], errors.InvalidFeeLine),
    ([FeeInput("1", BLOOD_COUNT, 1, 100), FeeInput("1", METFORMIN, 1, 100)], errors.DuplicateFeeLine),
    ([FeeInput("1", BLOOD_COUNT, 1, 100), FeeInput("2", "NOT0IN0CATALOGUE", 1, 1)],
     errors.UnknownCatalogueCode),
    ([], errors.InvalidFeeLine),
]


def test_a_refused_fee_line_keeps_nothing_of_its_message(platform, person):
    ssn, person_id, card_no = person
    visit = call(platform, visits.register, msgid=msgid(), cert_type="03", cert_no=card_no)
    before = counts(platform)
    for lines, error in REFUSED_UPLOADS:
        with pytest.raises(error):
            call(platform, visits.upload_fees, msgid=msgid(), mdtrt_id=visit.mdtrt_id, lines=lines)
        assert counts(platform) == before


def test_settle_refusals(platform, person):
    ssn, person_id, card_no = person
    visit = call(platform, visits.register, msgid=msgid(), cert_type="03", cert_no=card_no)
    with pytest.raises(errors.NothingToSettle):
        call(platform, visits.settle, msgid=msgid(), mdtrt_id=visit.mdtrt_id, cert_type="03",
             cert_no=card_no)
    call(platform, visits.upload_fees, msgid=msgid(), mdtrt_id=visit.mdtrt_id, lines=outpatient_lines())
    with pytest.raises(errors.SumMismatch):
        call(platform, visits.settle, msgid=msgid(), mdtrt_id=visit.mdtrt_id, cert_type="03",
             cert_no=card_no, medfee_sumamt=1)
    with pytest.raises(errors.InvalidMsgid):
        call(platform, visits.settle, msgid="x" * 31, mdtrt_id=visit.mdtrt_id, cert_type="03",
             cert_no=card_no)
    with pytest.raises(errors.NotAnInstitution), platform.uow() as uow:
        visits.settle(uow=uow, actor=PHONE, msgid=msgid(), mdtrt_id=visit.mdtrt_id,
                      cert_type="03", cert_no=card_no)
    assert counts(platform)["Settlement"] == 0


def test_a_resident_at_a_community_centre_pays_no_account(platform, reference):
    ssn, person_id, card_no = insured(platform, scheme="390", credit=0)
    visit = outpatient_visit(platform, card_no, code=COMMUNITY)
    settled = call(platform, visits.settle, code=COMMUNITY, msgid=msgid(COMMUNITY),
                   mdtrt_id=visit.mdtrt_id, cert_type="03", cert_no=card_no)
    check_invariants(settled.setlinfo)
    assert settled.insutype == "390" and settled.setlinfo["acct_pay"] == 0
    assert settled.setlinfo["psn_cash_pay"] == settled.setlinfo["psn_part_amt"]


def test_a_suspended_institution_cannot_settle(platform, person):
    ssn, person_id, card_no = person
    visit = outpatient_visit(platform, card_no)
    act(platform, service.set_institution_active, actor=OFFICE, code=HOSPITAL, active=False,
        reason="inspection")
    with pytest.raises(errors.InstitutionInactive):
        call(platform, visits.settle, msgid=msgid(), mdtrt_id=visit.mdtrt_id, cert_type="03",
             cert_no=card_no)
    act(platform, service.set_institution_active, actor=OFFICE, code=HOSPITAL, active=True,
        reason="inspection passed")
    assert call(platform, visits.settle, msgid=msgid(), mdtrt_id=visit.mdtrt_id, cert_type="03",
                cert_no=card_no).state == "settled"


def test_a_preview_reads_the_year_and_the_balance_as_they_are_after_a_settlement(platform, person):
    """pre_settle reads the year totals and the balance in one select once the person has a
    totals row for the year: it must see both as the first settlement left them."""
    ssn, person_id, card_no = person
    with platform.uow() as uow:  # no totals row yet: zeros and the balance read on its own
        assert service.year_totals_and_balance(uow=uow, person_id=person_id, year=2026) == (
            rules.YearTotals(), 50_000)
    first = outpatient_visit(platform, card_no)
    call(platform, visits.settle, msgid=msgid(), mdtrt_id=first.mdtrt_id, cert_type="03", cert_no=card_no)
    after = money(platform, person_id)
    assert after["account"] < 50_000 and after["year"] != rules.YearTotals()
    with platform.uow() as uow:
        assert service.year_totals_and_balance(uow=uow, person_id=person_id, year=2026) == (
            after["year"], after["account"])
        assert service.year_totals_and_balance(uow=uow, person_id=person_id, year=2025) == (
            rules.YearTotals(), after["account"])
    second = outpatient_visit(platform, card_no)
    preview = call(platform, visits.pre_settle, mdtrt_id=second.mdtrt_id, cert_type="03", cert_no=card_no)
    settled = call(platform, visits.settle, msgid=msgid(), mdtrt_id=second.mdtrt_id, cert_type="03",
                   cert_no=card_no)
    assert preview.setlinfo == settled.setlinfo and preview.year_totals == settled.year_totals
    assert settled.setlinfo["balc"] == after["account"] - settled.setlinfo["acct_pay"]
