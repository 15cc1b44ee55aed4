"""Cross-region care filing (异地就医备案, domain-rules §3; docs/medical-cross-region.md) for people insured in Changzhou.

Two kinds, each with its national reasons (example defaults, M):

* 异地长期居住 (`LONG_TERM`): settled elsewhere after retirement (异地安置退休), long-term
  residence (异地长期居住), posted to work elsewhere (常驻异地工作). Treatment there settles
  as at home: the insured place's deductible, ratio and cap, the treatment place's catalogue.
* 临时外出就医 (`TEMPORARY`): referral or transfer (转诊转院), emergency (急诊抢救), other
  (其他临时外出). The ratio is reduced by 10 pp; an emergency is treated as filed.

Not filed: reduced by 20 pp — and a filing may be made after the fact (补办), whose `begin`
lies before the day it is filed, so a visit already made can be settled again (or reviewed)
as filed. `filing_status` is what the visit flow asks: which `CrossRegion` a visit of this
person in that region on that day settles under. The reductions themselves live in the policy
(medical/policy.py, medrules); nothing here calculates money.

Every change is one transaction with one audit record; a filing carries a request id so a
retried request answers the first answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import select

from yikatong.core.actor import Actor, Role
from yikatong.core.clock import local_date
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.db.idempotency import request_fingerprint
from yikatong.db.uow import UnitOfWork
from yikatong.medical.models import CrossRegionFiling
from yikatong.medical.rules import CrossRegion

HOME_ADMDVS = "320400"  # Changzhou; its districts are 3204xx
# Example default (L): a temporary filing without an end date is valid this long.
TEMPORARY_DEFAULT_DAYS = 180
_ADMDVS = re.compile(r"^[1-8]\d{5}$")


class Kind(StrEnum):
    LONG_TERM = "long_term"  # 异地长期居住
    TEMPORARY = "temporary"  # 临时外出就医


class Reason(StrEnum):
    RETIRED_RESETTLED = "retired_resettled"  # 异地安置退休
    LONG_TERM_RESIDENCE = "long_term_residence"  # 异地长期居住
    POSTED_TO_WORK = "posted_to_work"  # 常驻异地工作
    REFERRAL = "referral"  # 转诊转院
    EMERGENCY = "emergency"  # 急诊抢救
    OTHER = "other"  # 其他临时外出就医


KIND_OF = {Reason.RETIRED_RESETTLED: Kind.LONG_TERM, Reason.LONG_TERM_RESIDENCE: Kind.LONG_TERM,
           Reason.POSTED_TO_WORK: Kind.LONG_TERM, Reason.REFERRAL: Kind.TEMPORARY,
           Reason.EMERGENCY: Kind.TEMPORARY, Reason.OTHER: Kind.TEMPORARY}
REASON_ZH = {Reason.RETIRED_RESETTLED: "异地安置退休", Reason.LONG_TERM_RESIDENCE: "异地长期居住",
             Reason.POSTED_TO_WORK: "常驻异地工作", Reason.REFERRAL: "转诊转院",
             Reason.EMERGENCY: "急诊抢救", Reason.OTHER: "其他临时外出就医"}


# -- errors -------------------------------------------------------------------------------------

class InvalidFiling(InvalidInput):
    code = "medical_filing_invalid"
    zh = "异地就医备案信息有误：{reason_zh}"
    en = "The cross-region filing is invalid: {reason_en}"


class FilingOverlaps(Conflict):
    code = "medical_filing_overlaps"
    zh = "该参保人在 {admdvs} 已有有效期重叠的备案（备案号 {filing_id}），请先撤销或调整"
    en = "The person already has a filing for {admdvs} overlapping these dates (filing {filing_id}); cancel it first"


class FilingNotFound(NotFound):
    code = "medical_filing_not_found"
    zh = "未找到异地就医备案"
    en = "Cross-region filing not found"


class FilingNotActive(Conflict):
    code = "medical_filing_not_active"
    zh = "备案 {filing_id} 已撤销，不能再撤销"
    en = "Filing {filing_id} is already cancelled"


class FilingRequestReused(Conflict):
    code = "medical_filing_request_reused"
    zh = "请求号 {request_id} 已用于另一份备案"
    en = "Request id {request_id} was already used for a different filing"


# -- pure helpers -------------------------------------------------------------------------------

def check_admdvs(admdvs: str) -> str:
    """A 6-digit administrative division code (GB/T 2260), e.g. 320400, 310000."""
    if not isinstance(admdvs, str) or not _ADMDVS.match(admdvs):
        raise InvalidFiling(reason_zh=f"行政区划代码 {admdvs!r} 须为 6 位数字",
                            reason_en=f"admdvs {admdvs!r} must be 6 digits")
    return admdvs


def region_prefix(admdvs: str) -> str:
    """What a filed region covers: a province (xx0000) its whole province, a city (xxxx00) its
    districts, a district itself."""
    if admdvs[2:] == "0000":
        return admdvs[:2]
    if admdvs[4:] == "00":
        return admdvs[:4]
    return admdvs


def covers(region: str, admdvs: str) -> bool:
    """Does the region (a province, city or district code) include this division?"""
    return admdvs.startswith(region_prefix(region))


def pooling_region(admdvs: str) -> str:
    """The pooling region (统筹区) of a division: its city (320402 → 320400); a province-level
    code stays as it is."""
    return admdvs if admdvs[2:] == "0000" else admdvs[:4] + "00"


def is_home(admdvs: str, home: str = HOME_ADMDVS) -> bool:
    """A division of the insured place's pooling region (Changzhou: 3204xx) is local care."""
    return covers(pooling_region(home), admdvs)


def _regions_overlap(a: str, b: str) -> bool:
    return covers(a, b) or covers(b, a)


def _periods_overlap(begin_a: date, end_a: date | None, begin_b: date, end_b: date | None) -> bool:
    return (end_b is None or begin_a <= end_b) and (end_a is None or begin_b <= end_a)


def status_of(filing: FilingView | None, *, emergency: bool = False) -> CrossRegion:
    """The CrossRegion of a visit elsewhere under this filing (None: no filing covers it)."""
    if filing is None:
        return CrossRegion.EMERGENCY if emergency else CrossRegion.NOT_FILED
    if filing.kind == Kind.LONG_TERM:
        return CrossRegion.LONG_TERM
    if emergency or filing.reason == Reason.EMERGENCY:
        return CrossRegion.EMERGENCY
    return CrossRegion.TEMPORARY


# -- views --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FilingView:
    id: int
    person_id: int
    insured_admdvs: str
    filed_admdvs: str
    kind: Kind
    reason: Reason
    begin: date
    end: date | None
    filed_on: date
    after_the_fact: bool
    status: str
    cancelled_from: date | None
    created_at: datetime

    @property
    def last_day(self) -> date | None:
        """The last day covered (None: open-ended); before `begin` when cancelled from its start."""
        return _last_day(self.end, self.cancelled_from)

    def covers(self, admdvs: str, day: date) -> bool:
        """Whether a visit in `admdvs` on `day` is under this filing."""
        last = self.last_day
        return covers(self.filed_admdvs, admdvs) and self.begin <= day and (last is None or day <= last)


def _last_day(end: date | None, cancelled_from: date | None) -> date | None:
    if cancelled_from is None:
        return end
    return min(end or date.max, cancelled_from - timedelta(days=1))


def _view(row: CrossRegionFiling) -> FilingView:
    return FilingView(row.id, row.person_id, row.insured_admdvs, row.filed_admdvs, Kind(row.kind),
                      Reason(row.reason), row.begin, row.end, row.filed_on, row.after_the_fact, row.status,
                      row.cancelled_from, row.created_at)


def _snapshot(row: CrossRegionFiling) -> dict:
    return {"person_id": row.person_id, "insured_admdvs": row.insured_admdvs, "filed_admdvs": row.filed_admdvs,
            "kind": row.kind, "reason": row.reason, "begin": row.begin.isoformat(),
            "end": row.end.isoformat() if row.end else None, "filed_on": row.filed_on.isoformat(),
            "after_the_fact": row.after_the_fact, "status": row.status,
            "cancelled_from": row.cancelled_from.isoformat() if row.cancelled_from else None}


def today(uow: UnitOfWork) -> date:
    """The business day (China Standard Time) of the unit of work's clock."""
    return local_date(uow.now())


# -- use cases ----------------------------------------------------------------------------------

def file(*, uow: UnitOfWork, actor: Actor, request_id: str, person_id: int, filed_admdvs: str,
         reason: Reason | str, begin: date, end: date | None = None,
         insured_admdvs: str = HOME_ADMDVS) -> FilingView:
    """File a person insured here for care in `filed_admdvs` from `begin` (to `end`, inclusive).

    A temporary filing without an end lasts TEMPORARY_DEFAULT_DAYS; a long-term one stays open
    until cancelled. `begin` before today is a filing after the fact. Raises InvalidFiling (bad
    region, the home region itself, end before begin), FilingOverlaps (an active filing of the
    person for an overlapping region and period), FilingRequestReused. Commits."""
    try:
        reason = Reason(reason)
    except ValueError:
        raise InvalidFiling(reason_zh=f"未知的备案类型 {reason!r}", reason_en=f"unknown filing reason {reason!r}") from None
    check_admdvs(filed_admdvs)
    check_admdvs(insured_admdvs)
    if _regions_overlap(filed_admdvs, pooling_region(insured_admdvs)):
        raise InvalidFiling(reason_zh="备案地不能是参保地本身", reason_en="the region filed for is the insured region itself")
    kind = KIND_OF[reason]
    if end is None and kind is Kind.TEMPORARY:
        end = begin + timedelta(days=TEMPORARY_DEFAULT_DAYS - 1)
    if end is not None and end < begin:
        raise InvalidFiling(reason_zh="结束日期早于开始日期", reason_en="the end date is before the begin date")
    fingerprint = request_fingerprint({"person_id": person_id, "filed_admdvs": filed_admdvs, "reason": reason.value,
                                       "begin": begin, "end": end, "insured_admdvs": insured_admdvs})
    existing = uow.session.execute(select(CrossRegionFiling).where(
        CrossRegionFiling.request_id == request_id)).scalar_one_or_none()
    if existing is not None:
        if existing.request_hash != fingerprint:
            raise FilingRequestReused(request_id=request_id)
        return _view(existing)
    for other in map(_view, _rows(uow, person_id)):
        last = other.last_day
        if last is not None and last < other.begin:
            continue  # cancelled from its first day: covers nothing
        if _regions_overlap(other.filed_admdvs, filed_admdvs) and _periods_overlap(begin, end, other.begin, last):
            raise FilingOverlaps(admdvs=other.filed_admdvs, filing_id=other.id)
    now, filed_on = uow.now(), today(uow)
    row = CrossRegionFiling(
        request_id=request_id, request_hash=fingerprint, person_id=person_id, insured_admdvs=insured_admdvs,
        filed_admdvs=filed_admdvs, kind=kind.value, reason=reason.value, begin=begin, end=end, filed_on=filed_on,
        after_the_fact=begin < filed_on, status="active", cancelled_from=None, cancel_reason=None,
        channel=str(actor.channel), created_at=now, updated_at=now)
    uow.session.add(row)
    uow.session.flush()
    uow.audit(actor=actor, action="medical.crossregion_filed", entity_type="medical_crossregion_filing",
              entity_id=row.id, after=_snapshot(row))
    uow.commit()
    return _view(row)


def cancel(*, uow: UnitOfWork, actor: Actor, filing_id: int, reason: str,
           effective: date | None = None) -> FilingView:
    """Cancel a filing from `effective` (default today) on: it covers nothing from that day,
    while the days before keep it (visits already settled under it stay as they are).
    Raises FilingNotFound, FilingNotActive, InvalidFiling (effective before its begin is
    allowed and voids it entirely). Commits."""
    row = uow.session.get(CrossRegionFiling, filing_id)
    if row is None:
        raise FilingNotFound()
    if row.status != "active":
        raise FilingNotActive(filing_id=filing_id)
    if not reason or len(reason) > 200:
        raise InvalidFiling(reason_zh="须填写 1–200 字的撤销原因", reason_en="a cancellation needs a reason of 1–200 characters")
    before = _snapshot(row)
    row.status, row.cancelled_from, row.cancel_reason = "cancelled", effective or today(uow), reason
    row.updated_at = uow.now()
    uow.session.flush()
    uow.audit(actor=actor, action="medical.crossregion_cancelled", entity_type="medical_crossregion_filing",
              entity_id=row.id, before=before, after=_snapshot(row), reason=reason)
    uow.commit()
    return _view(row)


def _rows(uow: UnitOfWork, person_id: int) -> list[CrossRegionFiling]:
    """The person's filings, cancelled ones included (they still cover the days before their
    cancellation)."""
    return list(uow.session.execute(select(CrossRegionFiling).where(
        CrossRegionFiling.person_id == person_id).order_by(CrossRegionFiling.id)).scalars())


def filings(*, uow: UnitOfWork, person_id: int) -> list[FilingView]:
    """Every filing of a person, oldest first (cancelled ones included)."""
    return [_view(row) for row in _rows(uow, person_id)]


def filing_on(*, uow: UnitOfWork, person_id: int, treatment_admdvs: str, day: date) -> FilingView | None:
    """The filing that covers a visit of this person in `treatment_admdvs` on `day`, or None.
    A long-term filing wins over a temporary one if both cover the day."""
    covering = [v for v in map(_view, _rows(uow, person_id)) if v.covers(treatment_admdvs, day)]
    covering.sort(key=lambda v: (v.kind != Kind.LONG_TERM, v.id))
    return covering[0] if covering else None


def filing_status(*, uow: UnitOfWork, person_id: int, treatment_admdvs: str, day: date,
                  insured_admdvs: str = HOME_ADMDVS, emergency: bool = False) -> CrossRegion:
    """Which CrossRegion a visit settles under: LOCAL in the insured region itself, else the
    filing's kind (LONG_TERM / TEMPORARY; a filing for an emergency, or an emergency visit
    during a temporary filing: EMERGENCY), else EMERGENCY for an emergency visit, else
    NOT_FILED. Reads only."""
    check_admdvs(treatment_admdvs)
    if is_home(treatment_admdvs, insured_admdvs):
        return CrossRegion.LOCAL
    return status_of(filing_on(uow=uow, person_id=person_id, treatment_admdvs=treatment_admdvs, day=day),
                     emergency=emergency)


# -- the doors: the medical insurance office's desk and the holder online ------------------------

def file_for(*, uow: UnitOfWork, actor: Actor, request_id: str, person_id: int, filed_admdvs: str,
             reason: Reason | str, begin: date | None = None, end: date | None = None) -> FilingView:
    """A filing through a door: the medical insurance office (any person it insures, `begin` in
    the past = after the fact) or the holder for themselves online (the national APP and 江苏医保云
    APP channel: from today on; after the fact only at the office). The person must be insured
    here on the filing day, with the enrolment's insured region. Raises NotMedicalOffice,
    NotEnrolled, InvalidFiling and what `file` raises. Commits."""
    from yikatong.medical import errors, service  # service imports this module's neighbours

    day = today(uow)
    begin = begin or day
    if actor.role == Role.HOLDER:
        if actor.person_id is None or actor.person_id != person_id:
            raise errors.NotMedicalOffice()
        if begin < day:
            raise InvalidFiling(reason_zh="补办（开始日期早于今天）须到医保经办窗口办理",
                                reason_en="a filing after the fact (begin before today) is made at the medical insurance office")
    elif actor.role not in service.OFFICE_ROLES:
        raise errors.NotMedicalOffice()
    enrolment = service.enrolment_on(uow=uow, person_id=person_id, day=day)
    if enrolment is None:
        raise errors.NotEnrolled(day=day.isoformat())
    return file(uow=uow, actor=actor, request_id=request_id, person_id=person_id, filed_admdvs=filed_admdvs,
                reason=reason, begin=begin, end=end, insured_admdvs=enrolment.insured_admdvs)


def cancel_for(*, uow: UnitOfWork, actor: Actor, filing_id: int, reason: str,
               effective: date | None = None) -> FilingView:
    """Cancel through a door: the office any filing, from any day; the holder only their own,
    and from today on (never back-dated). Commits."""
    from yikatong.medical import errors, service

    row = uow.session.get(CrossRegionFiling, filing_id)
    if actor.role == Role.HOLDER:
        if row is None or actor.person_id is None or row.person_id != actor.person_id:
            raise FilingNotFound()
        if effective is not None and effective < today(uow):
            raise InvalidFiling(reason_zh="撤销不能早于今天生效", reason_en="a cancellation cannot take effect before today")
    elif actor.role not in service.OFFICE_ROLES:
        raise errors.NotMedicalOffice()
    return cancel(uow=uow, actor=actor, filing_id=filing_id, reason=reason, effective=effective)


def get_filing(*, uow: UnitOfWork, actor: Actor, filing_id: int) -> FilingView:
    """One filing: the office any, the holder only their own (others: not found)."""
    row = uow.session.get(CrossRegionFiling, filing_id)
    if row is None or (actor.role == Role.HOLDER and row.person_id != actor.person_id):
        raise FilingNotFound()
    return _view(row)
