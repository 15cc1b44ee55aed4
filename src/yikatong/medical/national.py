"""A simulated national medical insurance platform (国家医保信息平台) for cross-region care
(异地就医直接结算, domain-rules §3; docs/medical-cross-region.md), for the simulation and tests — as transit has its
simulated national clearing house (clearing/national.py).

The platform routes a visit of a person insured in one region and treated in another to the
insured region's office and carries the answer back:

* person lookup (1101) with `insuplc_admdvs`: the insured region's office identifies the person
  from its own enrolment data;
* settlement (2207/2304 of a cross-region visit): the treatment region's institution sends the
  fee lines already classed by the *treatment region's* catalogue; the *insured region's* office
  settles them with its own policy (deductible, ratios, caps) and the cross-region status of its
  person's filing (notes 3.3: temporary −10 pp, not filed −20 pp, example defaults in the policy) —
  always through `rules.settle`, never a second calculation;
* cancellation (2208/2305) the same way back.

It keeps the inter-region book: every settlement and cancellation it carried, what the insured
region owes the treatment region for it (the fund's share plus the personal account: the
institution was paid both by its own office, the patient paid the cash share at the desk).
Each day the offices clear what they advanced for each other's insured people: each office
writes a clearing file per counterpart region and day (`render_clearing_file`), and the platform
checks it against its own book to the fen (`check_clearing_file`).

Offices are `RegionOffice`s. `SimulatedRegionOffice` is another region's office, in memory, with
its own enrolment data, filings, yearly totals and policy (e.g. Nanjing 320100, Shanghai
310000). The Changzhou office is `interregion.HomeOffice`, on our database.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Protocol

from yikatong.core.clock import CST, Clock, SystemClock, local_date
from yikatong.core.errors import Conflict, InvalidInput, NotFound
from yikatong.core.money import Fen
from yikatong.crypto.sm import sm3
from yikatong.medical import crossregion, rules
from yikatong.medical.crossregion import Reason
from yikatong.medical.policy import Policy, PolicyBook, default_policy_book
from yikatong.medical.rules import CrossRegion, FeeLine, Insured, Level, MedType, Scheme, YearTotals

HOME_ADMDVS = crossregion.HOME_ADMDVS
OTHER_REGIONS = {"320100": "南京市医疗保障局 Nanjing", "310000": "上海市医疗保障局 Shanghai"}


# -- errors (the national platform's answers, typed like the domain's) --------------------------

class RegionNotConnected(NotFound):
    code = "medical_region_not_connected"
    zh = "参保地 {admdvs} 未接入国家医保平台的异地结算"
    en = "The insured region {admdvs} is not connected to the national platform's cross-region settlement"


class NotCrossRegion(InvalidInput):
    code = "medical_not_cross_region"
    zh = "就医地与参保地同为 {admdvs}，不是异地就医"
    en = "Treatment and insured region are both {admdvs}: not a cross-region visit"


class PersonNotInsured(NotFound):
    code = "medical_remote_person_not_insured"
    zh = "参保地 {admdvs} 未查到该人员在 {day} 的参保信息"
    en = "The insured region {admdvs} has no enrolment of this person on {day}"


class SettlementUnknown(NotFound):
    code = "medical_remote_settlement_unknown"
    zh = "未找到结算 {setl_id}"
    en = "Settlement {setl_id} not found"


class MessageReused(Conflict):
    code = "medical_remote_msgid_reused"
    zh = "报文号 {msgid} 已用于另一笔结算"
    en = "Message id {msgid} was already used for a different settlement"


# -- what crosses the platform ------------------------------------------------------------------

@dataclass(frozen=True)
class PersonInfo:
    """The insured region's answer to a person lookup (1101 baseinfo + insuinfo)."""

    psn_no: str
    psn_name: str
    gend: str
    brdy: date
    insutype: Scheme
    retired: bool
    balc: Fen  # personal account balance
    insuplc_admdvs: str

    def as_1101(self) -> dict:
        return {"baseinfo": {"psn_no": self.psn_no, "psn_name": self.psn_name, "gend": self.gend,
                             "brdy": self.brdy.isoformat()},
                "insuinfo": [{"insutype": self.insutype.value, "psn_type": "1102" if self.retired else "1101",
                              "balc": self.balc, "insuplc_admdvs": self.insuplc_admdvs, "psn_insu_stas": "1"}]}


@dataclass(frozen=True)
class VisitClaim:
    """A cross-region visit to settle, as the treatment region's institution sends it."""

    msgid: str
    mdtrtarea_admvs: str  # where the person is treated
    fixmedins_code: str
    insuplc_admdvs: str  # where the person is insured
    psn_no: str
    med_type: MedType
    level: Level
    lines: tuple[FeeLine, ...]  # classed by the treatment region's catalogue
    day: date  # the visit's day (CST)
    emergency: bool = False  # 急诊抢救
    use_account: bool = True

    def fingerprint(self) -> tuple:
        return (self.mdtrtarea_admvs, self.fixmedins_code, self.insuplc_admdvs, self.psn_no, self.med_type,
                self.level, self.lines, self.day, self.emergency, self.use_account)


@dataclass(frozen=True)
class SettleAnswer:
    """The insured region's settlement of a claim (or, negated, of its cancellation)."""

    setl_id: str
    msgid: str
    insuplc_admdvs: str
    mdtrtarea_admvs: str
    fixmedins_code: str
    psn_no: str
    cross_region: CrossRegion
    setlinfo: rules.Setlinfo
    policy_version: str
    day: date
    cancelled: bool = False  # an answer to a cancellation: the amounts given back

    @property
    def owed(self) -> Fen:
        """What the insured region owes the treatment region for it: the fund's share and the
        personal account (the cash share the patient paid at the desk)."""
        amount = self.setlinfo.fund_pay_sumamt + self.setlinfo.acct_pay
        return -amount if self.cancelled else amount


class RegionOffice(Protocol):
    """A region's medical insurance office as the national platform reaches it."""

    admdvs: str
    name: str

    def identify(self, *, cert_type: str, cert_no: str, day: date) -> PersonInfo:
        """1101 for a person insured here. Raises PersonNotInsured."""
        ...

    def settle(self, *, claim: VisitClaim) -> SettleAnswer:
        """Settle a visit of a person insured here treated in another region; idempotent by
        (fixmedins_code, msgid). Raises PersonNotInsured, MessageReused."""
        ...

    def cancel(self, *, setl_id: str, msgid: str, day: date) -> SettleAnswer:
        """Cancel a settlement made here: every total and the account restored exactly; the
        answer carries the amounts given back. Idempotent. Raises SettlementUnknown."""
        ...


# -- the clearing file --------------------------------------------------------------------------

FILE_FORMAT = "YKTMIC"  # 医保异地清算文件, format 1 (docs/medical-cross-region.md)
_FIELD = re.compile(r"^[^|\r\n]*$")


@dataclass(frozen=True)
class ClearingLine:
    """One settlement in a clearing file, seen from the sending office: `in` the counterpart's
    insured person treated here (the counterpart owes us), `out` ours treated there."""

    setl_id: str
    direction: str  # in | out
    entry: str  # settle | cancel
    insuplc_admdvs: str
    mdtrtarea_admvs: str
    fixmedins_code: str
    psn_no: str
    medfee_sumamt: Fen
    fund_pay_sumamt: Fen
    acct_pay: Fen
    owed: Fen  # negative for a cancellation

    def key(self) -> tuple[str, str]:
        return (self.setl_id, self.entry)


@dataclass(frozen=True)
class ClearingFile:
    file_id: str
    sender: str  # the sending office's admdvs
    counterpart: str
    day: date
    created: datetime
    lines: tuple[ClearingLine, ...]
    receivable: Fen  # sum of `in` owed: the counterpart owes the sender
    payable: Fen  # sum of `out` owed: the sender owes the counterpart
    digest: str

    @property
    def net(self) -> Fen:
        """+ the counterpart pays the sender, − the sender pays the counterpart."""
        return self.receivable - self.payable


def totals(lines: Iterable[ClearingLine]) -> tuple[Fen, Fen]:
    """(receivable, payable) of the lines."""
    receivable = payable = 0
    for line in lines:
        if line.direction == "in":
            receivable += line.owed
        else:
            payable += line.owed
    return receivable, payable


def render_clearing_file(*, file_id: str, sender: str, counterpart: str, day: date, created: datetime,
                         lines: Sequence[ClearingLine]) -> str:
    """The text of a clearing file (UTF-8, `|`-separated, SM3 digest in the trailer)."""
    for value in (file_id, sender, counterpart):
        if not value or not _FIELD.match(value):
            raise ValueError(f"invalid clearing file field {value!r}")
    header = (f"H|{FILE_FORMAT}|1|{file_id}|{sender}|{counterpart}|{day:%Y%m%d}|"
              f"{created.astimezone(CST):%Y%m%d%H%M%S}|{len(lines)}\n")
    body = [header]
    for seq, line in enumerate(lines, start=1):
        fields = (line.setl_id, line.direction, line.entry, line.insuplc_admdvs, line.mdtrtarea_admvs,
                  line.fixmedins_code, line.psn_no)
        if (not all(_FIELD.match(f) for f in fields) or line.direction not in ("in", "out")
                or line.entry not in ("settle", "cancel")):
            raise ValueError(f"invalid clearing line {line!r}")
        body.append(f"R|{seq}|{'|'.join(fields)}|{line.medfee_sumamt}|{line.fund_pay_sumamt}|{line.acct_pay}|"
                    f"{line.owed}\n")
    text = "".join(body)
    receivable, payable = totals(lines)
    digest = sm3(text.encode("utf-8")).hex().upper()
    return f"{text}T|{len(lines)}|{receivable}|{payable}|{receivable - payable}|{digest}\n"


class ClearingFileInvalid(InvalidInput):
    code = "medical_clearing_file_invalid"
    zh = "清算文件有误（第 {line} 行）：{reason_zh}"
    en = "The clearing file is invalid (line {line}): {reason_en}"


def parse_clearing_file(text: str) -> ClearingFile:
    """Parse and check a clearing file: counts, totals and digest. Raises ClearingFileInvalid."""
    if not text.endswith("\n"):
        raise ClearingFileInvalid(line=0, reason_zh="文件未以换行结束", reason_en="the file does not end with a line feed")
    rows = text[:-1].split("\n")
    if len(rows) < 2:
        raise ClearingFileInvalid(line=1, reason_zh="缺少文件头或文件尾", reason_en="header or trailer missing")

    def bad(number: int, zh: str, en: str) -> ClearingFileInvalid:
        return ClearingFileInvalid(line=number, reason_zh=zh, reason_en=en)

    head = rows[0].split("|")
    if len(head) != 9 or head[:3] != ["H", FILE_FORMAT, "1"]:
        raise bad(1, "文件头格式不符", f"the header must be H|{FILE_FORMAT}|1|…")
    try:
        day = datetime.strptime(head[6], "%Y%m%d").date()
        created = datetime.strptime(head[7], "%Y%m%d%H%M%S").replace(tzinfo=CST)
        count = int(head[8])
    except ValueError:
        raise bad(1, "文件头的日期或笔数无效", "the header's day, time or count is invalid") from None
    lines = []
    for number, row in enumerate(rows[1:-1], start=2):
        parts = row.split("|")
        try:
            if (len(parts) != 13 or parts[0] != "R" or int(parts[1]) != number - 1 or parts[3] not in ("in", "out")
                    or parts[4] not in ("settle", "cancel")):
                raise ValueError
            amounts = [int(p) for p in parts[9:13]]
        except ValueError:
            raise bad(number, "明细行格式不符", "a record line must be R|seq|setl_id|in/out|settle/cancel|…|owed") from None
        lines.append(ClearingLine(*parts[2:9], *amounts))
    trailer = rows[-1].split("|")
    if len(trailer) != 6 or trailer[0] != "T":
        raise bad(len(rows), "文件尾格式不符", "the trailer must be T|count|receivable|payable|net|digest")
    body = "".join(row + "\n" for row in rows[:-1])
    if sm3(body.encode("utf-8")).hex().upper() != trailer[5]:
        raise bad(len(rows), "摘要不符", "the SM3 digest does not match")
    receivable, payable = totals(lines)
    if [count, len(lines), receivable, payable, receivable - payable] != [
            int(trailer[1]), int(trailer[1]), int(trailer[2]), int(trailer[3]), int(trailer[4])] or count != len(lines):
        raise bad(len(rows), "笔数或合计不符", "the count or totals do not match the record lines")
    return ClearingFile(head[3], head[4], head[5], day, created, tuple(lines), receivable, payable, trailer[5])


@dataclass(frozen=True)
class ClearingCheck:
    """The platform's verdict on an office's clearing file: agreed when every line and both
    totals are exactly the platform's book of that region pair and day."""

    file_id: str
    agreed: bool
    receivable: Fen  # the platform's book, from the sender's side
    payable: Fen
    missing: tuple[str, ...] = ()  # setl ids in the book, not in the file
    unknown: tuple[str, ...] = ()  # setl ids in the file the book does not hold (or with other amounts)

    @property
    def net(self) -> Fen:
        return self.receivable - self.payable


# -- another region's office, simulated ----------------------------------------------------------

def simulated_policy(base: Policy, admdvs: str, *, ratio_shift_bp: int) -> Policy:
    """Another region's policy for the simulation: the base with its own version and region and
    every hospital ratio moved by `ratio_shift_bp` (within 0–100 %). Not any region's real
    figures: enough that a visitor is visibly settled with *their* region's ratios."""

    def shifted(table: dict) -> dict:
        return {level: max(0, min(10_000, bp + ratio_shift_bp)) for level, bp in table.items()}

    schemes = {}
    for name in ("employee", "resident"):
        scheme = getattr(base, name)
        schemes[name] = scheme.model_copy(update={
            "inpatient": scheme.inpatient.model_copy(update={"ratio": shifted(scheme.inpatient.ratio),
                                                             "ratio_retired": shifted(scheme.inpatient.ratio_retired)}),
            "outpatient": scheme.outpatient.model_copy(update={"ratio": shifted(scheme.outpatient.ratio),
                                                               "ratio_retired": shifted(scheme.outpatient.ratio_retired)}),
        })
    return base.model_copy(update={"version": f"sim-{admdvs}-{base.version}", "region": admdvs, **schemes})


@dataclass
class _Enrolment:
    psn_no: str
    cert_no: str
    name: str
    gend: str
    brdy: date
    scheme: Scheme
    retired: bool
    balance: Fen
    begin: date
    end: date | None
    filings: list[_Filing] = field(default_factory=list)
    years: dict[int, YearTotals] = field(default_factory=dict)


@dataclass(frozen=True)
class _Filing:
    filed_admdvs: str
    reason: Reason
    begin: date
    end: date | None

    @property
    def kind(self) -> crossregion.Kind:
        return crossregion.KIND_OF[self.reason]

    def covers(self, admdvs: str, day: date) -> bool:
        return crossregion.covers(self.filed_admdvs, admdvs) and self.begin <= day and (
            self.end is None or day <= self.end)


@dataclass
class _Settled:
    answer: SettleAnswer
    claim: VisitClaim
    delta: YearTotals
    cancel: SettleAnswer | None = None


class SimulatedRegionOffice:
    """Another region's medical insurance office, in memory: its own insured people (enrolment,
    personal account, yearly totals, cross-region filings) and its own policy."""

    def __init__(self, admdvs: str, name: str, *, policy: Policy | PolicyBook) -> None:
        self.admdvs, self.name = crossregion.check_admdvs(admdvs), name
        self._book = policy if isinstance(policy, PolicyBook) else PolicyBook([policy])
        self._people: dict[str, _Enrolment] = {}  # cert_no → enrolment
        self._by_psn: dict[str, _Enrolment] = {}
        self._settled: dict[str, _Settled] = {}  # setl_id → settlement
        self._by_msgid: dict[tuple[str, str], str] = {}  # (fixmedins_code, msgid) → setl_id
        self._ids = itertools.count(1)

    def enrol(self, *, cert_no: str, name: str, scheme: Scheme = Scheme.EMPLOYEE, retired: bool = False,
              balance: Fen = 0, gend: str = "1", brdy: date = date(1970, 1, 1), begin: date = date(2000, 1, 1),
              end: date | None = None) -> str:
        """Enrol a person in this region's insurance (its own data); returns the person number."""
        psn_no = f"{self.admdvs}{len(self._people) + 1:010d}"
        person = _Enrolment(psn_no, cert_no, name, gend, brdy, scheme, retired, balance, begin, end)
        self._people[cert_no] = self._by_psn[psn_no] = person
        return psn_no

    def file(self, *, psn_no: str, filed_admdvs: str, reason: Reason, begin: date, end: date | None = None) -> None:
        """A cross-region filing at this office for one of its insured people."""
        self._by_psn[psn_no].filings.append(_Filing(filed_admdvs, Reason(reason), begin, end))

    def balance(self, psn_no: str) -> Fen:
        return self._by_psn[psn_no].balance

    def year_totals(self, psn_no: str, year: int) -> YearTotals:
        return self._by_psn[psn_no].years.get(year, YearTotals())

    def _enrolled(self, person: _Enrolment | None, day: date) -> _Enrolment:
        if person is None or day < person.begin or (person.end is not None and day > person.end):
            raise PersonNotInsured(admdvs=self.admdvs, day=day.isoformat())
        return person

    def identify(self, *, cert_type: str, cert_no: str, day: date) -> PersonInfo:
        person = self._enrolled(self._people.get(cert_no), day)
        return PersonInfo(person.psn_no, person.name, person.gend, person.brdy, person.scheme, person.retired,
                          person.balance, self.admdvs)

    def cross_region_of(self, person: _Enrolment, claim: VisitClaim) -> CrossRegion:
        if crossregion.covers(self.admdvs, claim.mdtrtarea_admvs):
            return CrossRegion.LOCAL
        covering = sorted((f for f in person.filings if f.covers(claim.mdtrtarea_admvs, claim.day)),
                          key=lambda f: f.kind != crossregion.Kind.LONG_TERM)
        filing = covering[0] if covering else None
        view = None if filing is None else _FilingLike(filing.kind, filing.reason)
        return crossregion.status_of(view, emergency=claim.emergency)  # type: ignore[arg-type]

    def settle(self, *, claim: VisitClaim) -> SettleAnswer:
        known = self._by_msgid.get((claim.fixmedins_code, claim.msgid))
        if known is not None:
            if self._settled[known].claim.fingerprint() != claim.fingerprint():
                raise MessageReused(msgid=claim.msgid)
            return self._settled[known].answer
        person = self._enrolled(self._by_psn.get(claim.psn_no), claim.day)
        status = self.cross_region_of(person, claim)
        policy = self._book.policy_in_force(claim.day)
        year = person.years.get(claim.day.year, YearTotals())
        result = rules.settle(policy=policy, insured=Insured(person.scheme, person.retired, person.balance),
                              encounter=rules.Encounter(claim.med_type, claim.level, status, claim.use_account),
                              lines=claim.lines, year=year)
        person.years[claim.day.year] = year + result.totals_delta
        person.balance = result.setlinfo.balc
        setl_id = f"{self.admdvs}S{next(self._ids):010d}"
        answer = SettleAnswer(setl_id, claim.msgid, self.admdvs, claim.mdtrtarea_admvs, claim.fixmedins_code,
                              claim.psn_no, status, result.setlinfo, result.policy_version, claim.day)
        self._settled[setl_id] = _Settled(answer, claim, result.totals_delta)
        self._by_msgid[(claim.fixmedins_code, claim.msgid)] = setl_id
        return answer

    def cancel(self, *, setl_id: str, msgid: str, day: date) -> SettleAnswer:
        settled = self._settled.get(setl_id)
        if settled is None:
            raise SettlementUnknown(setl_id=setl_id)
        if settled.cancel is None:
            person = self._by_psn[settled.answer.psn_no]
            year = settled.answer.day.year
            person.years[year] = person.years[year] - settled.delta
            person.balance += settled.answer.setlinfo.acct_pay
            settled.cancel = replace(settled.answer, msgid=msgid, day=day, cancelled=True)
        return settled.cancel


@dataclass(frozen=True)
class _FilingLike:
    kind: crossregion.Kind
    reason: Reason


def simulated_offices(*, book: PolicyBook | None = None, on: date = date(2026, 1, 1)) -> list[SimulatedRegionOffice]:
    """Nanjing (ratios 2 pp below ours) and Shanghai (3 pp above), for the simulation."""
    base = (book or default_policy_book()).policy_in_force(on)
    shifts = {"320100": -200, "310000": 300}
    return [SimulatedRegionOffice(admdvs, name, policy=simulated_policy(base, admdvs, ratio_shift_bp=shifts[admdvs]))
            for admdvs, name in OTHER_REGIONS.items()]


# -- the platform ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class BookEntry:
    """One line of the platform's inter-region book: `payer` (the insured region) owes `payee`
    (the treatment region) `owed` for this settlement (negative: a cancellation)."""

    setl_id: str
    entry: str  # settle | cancel
    payer: str
    payee: str
    fixmedins_code: str
    psn_no: str
    medfee_sumamt: Fen
    fund_pay_sumamt: Fen
    acct_pay: Fen
    owed: Fen
    day: date


class NationalMedicalPlatform:
    """The national platform: routes cross-region calls to the insured region's office, keeps
    the book of what regions owe each other, and checks the offices' daily clearing files."""

    def __init__(self, offices: Iterable[RegionOffice] = (), *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._offices: dict[str, RegionOffice] = {}
        self._book: list[BookEntry] = []
        self._answers: dict[tuple[str, str, str], SettleAnswer] = {}  # (area, fixmedins, msgid) → answer
        self._claims: dict[tuple[str, str, str], VisitClaim] = {}
        self._cleared: dict[tuple[frozenset[str], tuple[str, str]], str] = {}  # (region pair, line) → file id
        for office in offices:
            self.connect(office)

    def connect(self, office: RegionOffice) -> None:
        self._offices[office.admdvs] = office

    def office(self, admdvs: str) -> RegionOffice:
        """The office of the region holding the division `admdvs`. Raises RegionNotConnected."""
        crossregion.check_admdvs(admdvs)
        for region, office in self._offices.items():
            if crossregion.covers(region, admdvs):
                return office
        raise RegionNotConnected(admdvs=admdvs)

    def identify(self, *, insuplc_admdvs: str, cert_type: str, cert_no: str, day: date) -> PersonInfo:
        """1101 routed to the insured region."""
        return self.office(insuplc_admdvs).identify(cert_type=cert_type, cert_no=cert_no, day=day)

    def settle(self, claim: VisitClaim) -> SettleAnswer:
        """Route a cross-region settlement to the insured region and book what it owes the
        treatment region. Idempotent by (treatment region, institution, msgid)."""
        insured = self.office(claim.insuplc_admdvs)
        treated = self.office(claim.mdtrtarea_admvs)
        if insured is treated:
            raise NotCrossRegion(admdvs=insured.admdvs)
        key = (treated.admdvs, claim.fixmedins_code, claim.msgid)
        if key in self._answers:
            if self._claims[key].fingerprint() != claim.fingerprint():
                raise MessageReused(msgid=claim.msgid)
            return self._answers[key]
        answer = insured.settle(claim=claim)
        self._answers[key], self._claims[key] = answer, claim
        self._enter(answer, insured.admdvs, treated.admdvs)
        return answer

    def cancel(self, *, mdtrtarea_admvs: str, fixmedins_code: str, setl_id: str, insuplc_admdvs: str,
               msgid: str, day: date) -> SettleAnswer:
        """Route a cancellation; books the amounts given back (once, however often asked)."""
        insured, treated = self.office(insuplc_admdvs), self.office(mdtrtarea_admvs)
        key = (treated.admdvs, fixmedins_code, msgid)
        if key in self._answers:
            return self._answers[key]
        answer = insured.cancel(setl_id=setl_id, msgid=msgid, day=day)
        already = any(e.setl_id == setl_id and e.entry == "cancel" for e in self._book)
        self._answers[key] = answer
        if not already:
            self._enter(answer, insured.admdvs, treated.admdvs)
        return answer

    def _enter(self, answer: SettleAnswer, payer: str, payee: str) -> None:
        sign = -1 if answer.cancelled else 1
        info = answer.setlinfo
        # booked on the platform's day: the day it is cleared, whatever day the visit was
        self._book.append(BookEntry(answer.setl_id, "cancel" if answer.cancelled else "settle", payer, payee,
                                    answer.fixmedins_code, answer.psn_no, sign * info.medfee_sumamt,
                                    sign * info.fund_pay_sumamt, sign * info.acct_pay, answer.owed,
                                    local_date(self._clock.now())))

    def book(self) -> list[BookEntry]:
        return list(self._book)

    def positions(self) -> dict[tuple[str, str], Fen]:
        """(payer region, payee region) → fen owed, over the whole book."""
        owed: dict[tuple[str, str], Fen] = defaultdict(int)
        for entry in self._book:
            owed[(entry.payer, entry.payee)] += entry.owed
        return dict(sorted(owed.items()))

    def lines_between(self, region: str, counterpart: str, day: date) -> list[ClearingLine]:
        """The book of a region pair and day, as `region` sees it (in: owed to it)."""
        lines = []
        for e in self._book:
            if e.day != day or {e.payer, e.payee} != {region, counterpart}:
                continue
            direction = "in" if e.payee == region else "out"
            lines.append(ClearingLine(e.setl_id, direction, e.entry, e.payer, e.payee, e.fixmedins_code, e.psn_no,
                                      e.medfee_sumamt, e.fund_pay_sumamt, e.acct_pay, e.owed))
        return lines

    def check_clearing_file(self, text: str) -> ClearingCheck:
        """Check an office's clearing file against the book of its region pair and day, less
        what another agreed file already cleared, to the fen. Agreed, its lines count as cleared
        by this file (the same file again agrees again: a sender whose own commit failed)."""
        sent = parse_clearing_file(text)
        pair = frozenset((sent.sender, sent.counterpart))
        book = [line for line in self.lines_between(sent.sender, sent.counterpart, sent.day)
                if self._cleared.get((pair, line.key()), sent.file_id) == sent.file_id]
        receivable, payable = totals(book)
        expected, given = {(line.key(), line.direction) for line in book}, {(line.key(), line.direction)
                                                                           for line in sent.lines}
        missing = tuple(sorted(key[0][0] for key in expected - given))
        unknown = tuple(sorted(key[0][0] for key in given - expected))
        agreed = (not missing and not unknown and len(book) == len(sent.lines)
                  and (receivable, payable) == (sent.receivable, sent.payable))
        if agreed:
            for line in book:
                self._cleared[(pair, line.key())] = sent.file_id
        return ClearingCheck(sent.file_id, agreed, receivable, payable, missing, unknown)
