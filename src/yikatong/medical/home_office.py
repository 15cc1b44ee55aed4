"""The Changzhou medical insurance office as the national platform reaches it (a
`national.RegionOffice` on our database): person lookup for our insured people treated
elsewhere, and the settlement of their visits in other regions.

A visit of our insured person at another region's institution settles with *our* policy
(deductible, ratio, caps: `policy_in_force`, through `rules.settle`), the fee lines as the
treatment region's catalogue classed them, and the cross-region status of the person's filing
(`crossregion.filing_status`: long-term / temporary / not filed / emergency). It adds to the
person's yearly totals and takes the personal account like a visit at home (medstore's totals
row and ledger accounts); the pooled fund and the account pay the *treatment region*
(`interregion.post_out`: payable to it, cleared daily), not an institution of ours. A
cancellation restores the totals and the account exactly.
"""

from __future__ import annotations

import dataclasses
import threading
import uuid
from datetime import date

from sqlalchemy import select

from yikatong.core.actor import Actor
from yikatong.ledger import service as ledger
from yikatong.ledger.rules import AccountKind
from yikatong.medical import crossregion, interregion, rules
from yikatong.medical import service as medical
from yikatong.medical.errors import InsuredNotFound, NotEnrolled
from yikatong.medical.models import InterRegionSettlement
from yikatong.medical.national import (
    HOME_ADMDVS,
    MessageReused,
    NationalMedicalPlatform,
    PersonInfo,
    PersonNotInsured,
    SettleAnswer,
    SettlementUnknown,
    VisitClaim,
)
from yikatong.medical.policy import PolicyBook, default_policy_book
from yikatong.medical.rules import Scheme

ACTOR = Actor.system("medical-national-platform")


def _answer(row: InterRegionSettlement) -> SettleAnswer:
    return SettleAnswer(row.setl_id, row.msgid, row.insured_admdvs, row.treatment_admdvs, row.fixmedins_code,
                        row.psn_no, rules.CrossRegion(row.cross_region), rules.Setlinfo(**row.setlinfo),
                        row.policy_version, row.day, cancelled=row.entry == "cancel")


class HomeOffice:
    """Our office, connected to the national platform (`national.connect(HomeOffice(...))`)."""

    admdvs = HOME_ADMDVS
    name = "常州市医疗保障局 Changzhou"

    def __init__(self, platform, national: NationalMedicalPlatform, *, book: PolicyBook | None = None,
                 actor: Actor = ACTOR) -> None:
        self._platform, self._national = platform, national
        self._book = book or default_policy_book()
        self._actor = actor

    def identify(self, *, cert_type: str, cert_no: str, day: date) -> PersonInfo:
        """1101 for a person insured here, asked from another region."""
        with self._platform.uow(read_only=True) as uow:
            try:
                found = medical.identify(uow=uow, cert_type=cert_type, cert_no=cert_no, day=day)
            except (InsuredNotFound, NotEnrolled):
                raise PersonNotInsured(admdvs=self.admdvs, day=day.isoformat()) from None
        enrolment = found.enrolment
        return PersonInfo(found.psn_no, found.name, found.gender, found.birth_date, Scheme(enrolment.scheme),
                          enrolment.retired, found.account_balance, enrolment.insured_admdvs)

    def settle(self, *, claim: VisitClaim) -> SettleAnswer:
        counterpart = self._national.office(claim.mdtrtarea_admvs).admdvs
        with self._platform.uow() as uow:
            done = _row(uow, claim.fixmedins_code, claim.msgid)
            if done is not None:
                if done.entry != "settle" or done.psn_no != claim.psn_no or done.treatment_admdvs != claim.mdtrtarea_admvs:
                    raise MessageReused(msgid=claim.msgid)
                return _answer(done)
            person_id = medical.person_by_psn_no(uow=uow, psn_no=claim.psn_no)
            enrolment = None if person_id is None else medical.enrolment_on(uow=uow, person_id=person_id,
                                                                            day=claim.day)
            if enrolment is None:
                raise PersonNotInsured(admdvs=self.admdvs, day=claim.day.isoformat())
            status = crossregion.filing_status(uow=uow, person_id=person_id, treatment_admdvs=claim.mdtrtarea_admvs,
                                               day=claim.day, insured_admdvs=enrolment.insured_admdvs,
                                               emergency=claim.emergency)
            totals_row = medical.lock_year_totals(uow=uow, person_id=person_id, year=claim.day.year)
            year = medical.totals_of(totals_row)
            balance = medical.account_balance(uow=uow, person_id=person_id)
            result = rules.settle(
                policy=self._book.policy_in_force(claim.day),
                insured=rules.Insured(Scheme(enrolment.scheme), enrolment.retired, balance, enrolment.assistance),
                encounter=rules.Encounter(claim.med_type, claim.level, status, claim.use_account),
                lines=claim.lines, year=year)
            medical.apply_totals(totals_row, year + result.totals_delta, uow.now())
            answer = SettleAnswer(f"{HOME_ADMDVS}X{uuid.uuid4().hex[:20].upper()}", claim.msgid, HOME_ADMDVS,
                                  claim.mdtrtarea_admvs, claim.fixmedins_code, claim.psn_no, status, result.setlinfo,
                                  result.policy_version, claim.day)
            self._post(uow, answer, counterpart, person_id, enrolment.insured_admdvs,
                       totals_delta=dataclasses.asdict(result.totals_delta))
            uow.commit()
        return answer

    def cancel(self, *, setl_id: str, msgid: str, day: date) -> SettleAnswer:
        with self._platform.uow() as uow:
            original = uow.session.execute(select(InterRegionSettlement).where(
                InterRegionSettlement.direction == "out", InterRegionSettlement.setl_id == setl_id,
                InterRegionSettlement.entry == "settle")).scalar_one_or_none()
            if original is None:
                raise SettlementUnknown(setl_id=setl_id)
            done = uow.session.execute(select(InterRegionSettlement).where(
                InterRegionSettlement.direction == "out", InterRegionSettlement.setl_id == setl_id,
                InterRegionSettlement.entry == "cancel")).scalar_one_or_none()
            if done is not None:
                return _answer(done)
            delta = rules.YearTotals(**original.totals_delta)
            totals_row = medical.lock_year_totals(uow=uow, person_id=original.person_id, year=original.day.year)
            medical.apply_totals(totals_row, medical.totals_of(totals_row) - delta, uow.now())
            first = _answer(original)
            answer = SettleAnswer(setl_id, msgid, first.insuplc_admdvs, first.mdtrtarea_admvs, first.fixmedins_code,
                                  first.psn_no, first.cross_region, first.setlinfo, first.policy_version, day,
                                  cancelled=True)
            self._post(uow, answer, original.counterpart_admdvs, original.person_id, original.insured_admdvs,
                       totals_delta=original.totals_delta)
            uow.commit()
        return answer

    def _post(self, uow, answer: SettleAnswer, counterpart: str, person_id: int, insured_admdvs: str, *,
              totals_delta: dict) -> None:
        pool = medical.pool_code(insured_admdvs)
        ledger.open_account(uow=uow, code=pool, kind=AccountKind.EXPENSE)
        interregion.post_out(uow, self._actor, answer, counterpart=counterpart, person_id=person_id,
                             paid_from={pool: answer.setlinfo.fund_pay_sumamt,
                                        medical.account_code(person_id): answer.setlinfo.acct_pay},
                             totals_delta=totals_delta)


def _row(uow, fixmedins_code: str, msgid: str) -> InterRegionSettlement | None:
    return uow.session.execute(select(InterRegionSettlement).where(
        InterRegionSettlement.direction == "out", InterRegionSettlement.fixmedins_code == fixmedins_code,
        InterRegionSettlement.msgid == msgid)).scalars().first()


def simulated_national(platform, *, book: PolicyBook | None = None) -> NationalMedicalPlatform:
    """A national platform with the simulated Nanjing and Shanghai offices and ours connected
    (for the simulation, the demo and tests)."""
    from yikatong.medical.national import simulated_offices

    nation = NationalMedicalPlatform(simulated_offices(book=book), clock=platform.clock)
    nation.connect(HomeOffice(platform, nation, book=book))
    return nation


def national_for(platform) -> NationalMedicalPlatform:
    """The simulated national platform of this process for `platform` (one per platform, made
    on first use and kept on it): the visit flow, the interface, the CLI and the worker's
    clearing job share its book. Its book lives in memory: a process that did not see the
    settlements (a separate `ykt` run) holds an empty book, and the clearing it checks is
    disputed — the honest answer of a platform that never saw those settlements."""
    found = getattr(platform, "_medical_national", None)
    if found is None:
        with _NATIONAL_LOCK:  # two first requests at once still share one book
            found = getattr(platform, "_medical_national", None)
            if found is None:
                found = simulated_national(platform)
                platform._medical_national = found
    return found


_NATIONAL_LOCK = threading.Lock()
