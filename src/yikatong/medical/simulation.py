"""A day of the city's hospitals, end to end, with every fen reconciled (`ykt simulate medical-day`).

1. N insured people are registered (people service) and enrolled by the medical insurance
   office (medical.service): employees in service and retired, residents; most employees and
   some residents have a personal-account balance credited from the fund.
2. The reference institutions (every level and the pharmacies) are loaded; each gets its
   interface secret from the office and a MEDICAL_INSTITUTION login with an API key for its
   hospital information system (HIS).
3. Every HIS signs in (9001) and plays its visits through the SAME DOOR real hospitals use:
   the national-style institution interface (signed envelope, x-tif headers, msgid) in-process
   through the ASGI application. Outpatient: 1101, 2201, 2204, 2206, 2207 and some 2208
   cancels; pharmacy purchases (med_type 41) the same way at a pharmacy; inpatient: 2401,
   2301, 2402, 2303, 2304 and some 2305 cancels. Some messages are INTERRUPTED: the answer is
   lost after the platform committed (the HIS sends the same msgid again and must get the
   same answer; or it reverses the message with 2601 and starts that step again), or the
   request never arrives (the HIS reverses it with 2601, sometimes the original arrives late
   and must be refused, and the step is sent again under a new msgid).
4. The checks, every fen: the pooled fund's ledger account = Σ fund_pay_sumamt of the live
   settlements (and = what the HISes were answered); each personal account = its credits −
   Σ acct_pay of its live settlements; each person's year totals = Σ the totals_delta of
   their live settlements; each institution's payable = Σ (fund + account) of its live
   settlements; each institution's own book agrees with the platform's (3201 totals; the
   settlement ids one by one); every ledger account's balance = Σ of its postings; the
   ledger's trial balance.

The HIS side here (HospitalSystem, the message builders) is what a hospital's software would
do; nothing in it computes a settlement: the amounts are the platform's answers.
"""

from __future__ import annotations

import itertools
import random
import secrets
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import func, select

from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.clock import CST, local_date
from yikatong.core.money import Fen
from yikatong.core.progress import SILENT, Progress

OFFICE = Actor(user_id="sim-medical-office", role=Role.MEDICAL_OFFICE, channel=Channel.MEDICAL_DESK)
SETUP = Actor.system("medical-simulation")
INTERFACE_URL = "/api/v1/medical/fsi/api/rsfComIfsService/callService"
EMPLOYER = "91320411MA1Q2W3E4F"  # a synthetic employer (USCC shape)
CITY = "320400"
DISTRICTS = ("320402", "320404", "320411", "320412", "320413", "320481")
WRITE_MESSAGES = frozenset({"2201", "2204", "2207", "2208", "2401", "2301", "2402", "2304", "2305"})
SETLINFO_FIELDS = (
    "medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt",
    "act_pay_dedc", "hifp_pay", "cvlserv_pay", "hifes_pay", "hifmi_pay", "hifob_pay", "maf_pay",
    "oth_pay", "fund_pay_sumamt", "hosp_part_amt", "psn_part_amt", "acct_pay", "psn_cash_pay",
    "acct_mulaid_pay", "balc")
TOTALS_FIELDS = ("outpatient_deductible", "outpatient_fund", "inpatient_admissions", "inpatient_fund",
                 "serious_base", "serious_paid", "subsidy_paid", "assistance_paid", "medfee_total")


# --- money as the national interface writes it -------------------------------------------------


def yuan(amount: Fen) -> str:
    """Fen as yuan with two decimals, as the HIS sends amounts ("12.30")."""
    whole, part = divmod(amount, 100)
    return f"{whole}.{part:02d}"


def fen(value: Any) -> Fen:
    """An amount of an answer (yuan, number or string) in fen."""
    amount = Decimal(str(value)) * 100
    if amount != amount.to_integral_value():
        raise ValueError(f"{value!r} is not an amount in yuan with two decimals")
    return int(amount)


# --- the hospital information system -------------------------------------------------------------


class Transport(Protocol):
    def __call__(self, body: dict, headers: dict) -> dict:
        """POST one envelope; the answer envelope."""
        ...


class HospitalSystem:
    """An institution's HIS: numbers its messages, signs each request (x-tif headers with its
    secret, a nonce of its own), reads the answer envelopes. `transport` posts them."""

    def __init__(self, *, code: str, name: str, secret: str, credential: Mapping[str, str], clock,
                 admdvs: str = CITY, transport: Transport | None = None,
                 sequence: itertools.count | None = None) -> None:
        self.code, self.name, self.secret, self.credential = code, name, secret, dict(credential)
        self.clock, self.admdvs, self.transport = clock, admdvs, transport
        self.sequence = sequence or itertools.count(1)  # shared by the terminals of one institution
        self.sign_no = ""

    def msgid(self) -> str:
        stamp = self.clock.now().astimezone(CST).strftime("%Y%m%d%H%M%S")
        return f"{self.code}{stamp}{next(self.sequence) % 10_000:04d}"

    def envelope(self, infno: str, payload: dict, *, msgid: str | None = None,
                 insuplc_admdvs: str = CITY) -> dict:
        from yikatong.medical import envelope as env

        return {"infno": infno, "msgid": msgid or self.msgid(), "mdtrtarea_admvs": self.admdvs,
                "insuplc_admdvs": insuplc_admdvs, "recer_sys_code": "YKT", "dev_no": "",
                "dev_safe_info": "", "cainfo": "", "signtype": "", "infver": "V1.0",
                "opter_type": "1", "opter": "0001", "opter_name": "收费员",
                "inf_time": env.beijing(self.clock.now()), "fixmedins_code": self.code,
                "fixmedins_name": self.name, "sign_no": self.sign_no, "input": payload}

    def headers(self) -> dict[str, str]:
        from yikatong.medical import envelope as env

        signed = env.signed_headers(paasid=self.code, secret=self.secret, nonce=secrets.token_hex(8),
                                    now=self.clock.now())
        return {**self.credential, **signed}

    def post(self, body: dict) -> dict:
        """Send an envelope (freshly signed headers each time: a nonce is spent once)."""
        assert self.transport is not None
        return self.transport(body, self.headers())

    def sign_in_message(self) -> dict:
        return self.envelope("9001", {"signIn": {"opter_no": "0001", "mac": "00-00-00-00-00-00",
                                                 "ip": "10.0.0.8"}})

    def signed_in(self, answer: dict) -> str:
        self.sign_no = answer["output"]["signinoutb"]["sign_no"]
        return self.sign_no


# --- what a HIS sends: the national input of each message -----------------------------------------


def person_query(cert_no: str, cert_type: str = "02") -> dict:
    """1101: the insured person behind a credential."""
    return {"data": {"mdtrt_cert_type": cert_type, "mdtrt_cert_no": cert_no, "card_sn": "",
                     "begntime": "", "psn_cert_type": "01", "certno": cert_no if cert_type == "02" else "",
                     "psn_name": ""}}


def registration(*, psn_no: str, insutype: str, cert_no: str, begntime: str, serial: str,
                 med_type: str = "11") -> dict:
    """2201: an outpatient registration (or a pharmacy purchase, med_type 41)."""
    return {"data": {"psn_no": psn_no, "insutype": insutype, "begntime": begntime,
                     "mdtrt_cert_type": "02", "mdtrt_cert_no": cert_no, "ipt_otp_no": serial,
                     "atddr_no": "D0001", "dr_name": "医生", "dept_code": "A03", "dept_name": "内科",
                     "caty": "A03", "med_type": med_type}}


def admission(*, psn_no: str, insutype: str, cert_no: str, begntime: str, serial: str) -> dict:
    """2401: an inpatient admission."""
    return {"mdtrtinfo": {"psn_no": psn_no, "insutype": insutype, "mdtrt_cert_type": "02",
                          "mdtrt_cert_no": cert_no, "med_type": "21", "ipt_no": serial,
                          "begntime": begntime, "atddr_no": "D0001", "chfpdr_name": "医生",
                          "adm_diag_dscr": "肺炎", "adm_dept_codg": "A03", "adm_dept_name": "内科",
                          "adm_bed": "12", "dscg_maindiag_code": "J18.900", "dscg_maindiag_name": "肺炎",
                          "main_cond_dscr": "", "dise_codg": "J18.900", "dise_name": "肺炎"},
            "diseinfo": [{"psn_no": psn_no, "diag_type": "1", "maindiag_flag": "1", "diag_srt_no": "1",
                          "diag_code": "J18.900", "diag_name": "肺炎", "diag_time": begntime}]}


@dataclass(frozen=True)
class Line:
    code: str
    quantity: int
    unit_price: Fen

    @property
    def amount(self) -> Fen:
        return self.quantity * self.unit_price


def fee_details(*, mdtrt_id: str, psn_no: str, med_type: str, lines: list[Line], when: str,
                first_sn: int = 1) -> dict:
    """2204 / 2301: fee detail lines with their catalogue codes."""
    return {"feedetail": [
        {"feedetl_sn": f"{first_sn + n:04d}", "mdtrt_id": mdtrt_id, "psn_no": psn_no, "med_type": med_type,
         "fee_ocur_time": when, "med_list_codg": line.code, "medins_list_codg": line.code,
         "det_item_fee_sumamt": yuan(line.amount), "cnt": str(line.quantity), "pric": yuan(line.unit_price),
         "bilg_dept_codg": "A03", "bilg_dept_name": "内科", "bilg_dr_codg": "D0001", "bilg_dr_name": "医生"}
        for n, line in enumerate(lines)]}


def settlement_request(*, psn_no: str, insutype: str, cert_no: str, mdtrt_id: str, med_type: str,
                       total: Fen, use_account: bool, serial: str) -> dict:
    """2206 / 2207 (outpatient, pharmacy) and 2303 / 2304 (inpatient)."""
    return {"data": {"psn_no": psn_no, "mdtrt_cert_type": "02", "mdtrt_cert_no": cert_no,
                     "med_type": med_type, "medfee_sumamt": yuan(total), "psn_setlway": "01",
                     "mdtrt_id": mdtrt_id, "chrg_bchno": serial, "insutype": insutype,
                     "acct_used_flag": "1" if use_account else "0", "mid_setl_flag": "0",
                     "invono": "", "fulamt_ownpay_amt": "0.00", "overlmt_selfpay": "0.00",
                     "preselfpay_amt": "0.00", "inscp_scp_amt": "0.00"}}


def discharge(*, psn_no: str, insutype: str, mdtrt_id: str, endtime: str) -> dict:
    """2402: the discharge."""
    return {"dscginfo": {"mdtrt_id": mdtrt_id, "psn_no": psn_no, "insutype": insutype, "endtime": endtime,
                         "dise_codg": "J18.900", "dise_name": "肺炎", "dscg_way": "1", "dscg_dept_codg": "A03",
                         "dscg_dept_name": "内科"},
            "diseinfo": [{"psn_no": psn_no, "diag_type": "1", "maindiag_flag": "1", "diag_srt_no": "1",
                          "diag_code": "J18.900", "diag_name": "肺炎", "diag_time": endtime}]}


def cancellation(*, psn_no: str, mdtrt_id: str, setl_id: str) -> dict:
    """2208 / 2305: a settlement withdrawn."""
    return {"data": {"setl_id": setl_id, "mdtrt_id": mdtrt_id, "psn_no": psn_no}}


def reversal(*, psn_no: str, omsgid: str, oinfno: str) -> dict:
    """2601: undo whatever the message `omsgid` did (nothing if it never landed)."""
    return {"data": {"psn_no": psn_no, "omsgid": omsgid, "oinfno": oinfno}}


def totals_request(*, insutype: str, clr_type: str, day: date, medfee: Fen, fund: Fen, account: Fen, cash: Fen,
                   count: int) -> dict:
    """3201: the institution's own totals of a day (one insutype, one clearing type = med_type),
    for the platform to compare."""
    return {"data": {"insutype": insutype, "clr_type": clr_type, "setl_optins": CITY,
                     "stmt_begndate": day.isoformat(), "stmt_enddate": day.isoformat(),
                     "medfee_sumamt": yuan(medfee), "fund_pay_sumamt": yuan(fund), "acct_pay": yuan(account),
                     "cash_payamt": yuan(cash), "fixmedins_setl_cnt": count}}


def setlinfo_of(answer: dict) -> dict[str, Any]:
    """The answer's setlinfo with every amount in fen."""
    info = dict(answer["output"]["setlinfo"])
    for name in SETLINFO_FIELDS:
        if name in info:
            info[name] = fen(info[name])
    return info


# --- the world ---------------------------------------------------------------------------------


@dataclass
class SimPerson:
    person_id: int
    ssn: str
    scheme: str  # 310 | 390
    retired: bool
    district: str
    credited: Fen = 0
    psn_no: str = ""
    busy_until: datetime | None = None


@dataclass
class SimInstitution:
    code: str
    name: str
    level: str
    kind: str  # hospital | pharmacy
    his: HospitalSystem


@dataclass
class BookEntry:
    """A settlement as the institution's HIS recorded it from the platform's answer."""

    setl_id: str
    mdtrt_id: str
    person_id: int
    insutype: str
    med_type: str
    medfee_sumamt: Fen
    fund_pay_sumamt: Fen
    acct_pay: Fen
    psn_cash_pay: Fen


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DayReport:
    day: date
    database: str
    door: str
    people: int = 0
    people_by_kind: dict[str, int] = field(default_factory=dict)
    credited: Fen = 0
    institutions: int = 0
    visits_planned: int = 0
    visits: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # kind → settled
    cancelled: int = 0
    messages: int = 0
    refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # err_code → count
    refusal_examples: dict[str, str] = field(default_factory=dict)
    answers_lost: int = 0           # retried with the same msgid: the same answer
    answers_lost_reversed: int = 0  # the committed message reversed with 2601, then sent again
    requests_lost: int = 0          # never arrived: 2601, then sent again under a new msgid
    late_originals_refused: int = 0
    reversals_refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # then the original again
    replay_mismatches: list[str] = field(default_factory=list)
    medfee: Fen = 0
    fund_paid: Fen = 0
    account_paid: Fen = 0
    cash_paid: Fen = 0
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)


@dataclass
class World:
    """What the simulation knows from its own side: the people and their credits, the
    institutions' HIS books (from the platform's answers)."""

    day: date
    people: list[SimPerson]
    institutions: list[SimInstitution]
    book: dict[str, dict[str, BookEntry]] = field(default_factory=lambda: defaultdict(dict))  # code → setl_id → entry

    def person(self, person_id: int) -> SimPerson:
        return next(p for p in self.people if p.person_id == person_id)


# --- setting the city up -------------------------------------------------------------------------


def make_people(platform, count: int, day: date, rng: random.Random, progress: Progress) -> list[SimPerson]:
    """Registered (people service), enrolled and credited (medical service)."""
    from yikatong.medical import service
    from yikatong.people.errors import SsnTaken
    from yikatong.people.samples import make_citizen_ssn, make_name
    from yikatong.people.service import create_person

    advance = progress.stage("enrolling people / 参保登记", count)
    people = []
    for _number in range(count):
        shape = rng.random()
        scheme, retired = ("310", False) if shape < 0.45 else ("310", True) if shape < 0.65 else ("390", False)
        age = rng.randint(62, 88) if retired else rng.randint(18, 59) if scheme == "310" else rng.randint(1, 85)
        born = day - timedelta(days=age * 365 + rng.randrange(300))
        gender = rng.choice("MF")
        district = rng.choice(DISTRICTS)
        for attempt in range(50):  # another person born the same day in the same district: next number
            ssn = make_citizen_ssn(district, born, gender, rng=rng)
            try:
                with platform.uow() as uow:
                    person = create_person(uow=uow, actor=SETUP, photo_jpeg=None, applicant={
                        "name": make_name(rng), "ssn": ssn, "gender": gender, "birth_date": born.isoformat(),
                        "nationality": "CHN", "phone": f"139{rng.randrange(10**8):08d}", "address": None,
                        "document_type": "resident_id_card", "document_number": ssn,
                        "document_valid_until": (day + timedelta(days=3650)).isoformat()})
                    uow.commit()
                    person_id = person.id
                break
            except SsnTaken:
                if attempt == 49:
                    raise
        with platform.uow() as uow:
            service.enrol(uow=uow, actor=OFFICE, person_id=person_id, scheme=scheme, insured_admdvs=district,
                          start_date=date(day.year, 1, 1), retired=retired,
                          employer_uscc=EMPLOYER if scheme == "310" and not retired else None)
            uow.commit()
        credit = 0
        if scheme == "310" or rng.random() < 0.2:
            credit = rng.choice((3_000, 20_000, 80_000, 150_000, 400_000)) if rng.random() < 0.9 else 0
        if credit:
            with platform.uow() as uow:
                service.credit_account(uow=uow, actor=OFFICE, person_id=person_id, amount=credit,
                                       request_id=f"sim-{day:%Y}-{person_id}", memo="年度划入 / yearly credit")
        people.append(SimPerson(person_id, ssn, scheme, retired, district, credit))
        advance(1)
    return people


@dataclass(frozen=True)
class Provisioned:
    """An institution ready to talk: its interface secret and its HIS's API key."""

    code: str
    name: str
    level: str
    kind: str
    secret: str
    api_key: str


def provision_institutions(platform, progress: Progress | None = None) -> list[Provisioned]:
    """The reference institutions (medical.service), each with its interface secret issued by
    the office and a MEDICAL_INSTITUTION login with an API key for its HIS (auth.service)."""
    from yikatong.auth.service import create_api_key, create_user, find_user
    from yikatong.medical import service

    with platform.uow() as uow:
        service.load_reference_data(uow=uow, actor=SETUP)
    with platform.uow() as uow:
        listed = service.list_institutions(uow=uow)
    advance = (progress or SILENT).stage("institutions / 定点机构", len(listed))
    made = []
    for row in listed:
        with platform.uow() as uow:
            secret = service.issue_institution_secret(uow=uow, actor=OFFICE, code=row.code).secret
        username = f"his-{row.code.lower()}-{secrets.token_hex(3)}"
        with platform.uow() as uow:
            create_user(uow=uow, actor=SETUP, username=username, password=None,
                        role=Role.MEDICAL_INSTITUTION, branch_code=row.code)
            uow.commit()
        with platform.uow() as uow:
            key = create_api_key(uow=uow, user=find_user(uow=uow, username=username), label="HIS", actor=SETUP)
            uow.commit()
        made.append(Provisioned(row.code, row.name, row.level, row.kind, secret, key))
        advance(1)
    return made


def _make_institutions(platform, transport_for: Callable[[], Transport], progress: Progress) -> list[SimInstitution]:
    """Every provisioned institution's HIS, signed in (9001)."""
    made = []
    for row in provision_institutions(platform, progress):
        his = HospitalSystem(code=row.code, name=row.name, secret=row.secret, credential={"X-API-Key": row.api_key},
                             clock=platform.clock, transport=transport_for())
        answer = his.post(his.sign_in_message())
        if answer["infcode"] != 0:
            raise RuntimeError(f"{row.code} could not sign in: {answer['err_msg']}")
        his.signed_in(answer)
        made.append(SimInstitution(row.code, row.name, row.level, row.kind, his))
    return made


def asgi_transport(app) -> Callable[[], Transport]:
    """Each HIS posts through the application in-process (Starlette's test client: the whole
    ASGI stack, middlewares and all, without a socket)."""
    from fastapi.testclient import TestClient

    client = TestClient(app)

    def make() -> Transport:
        def post(body: dict, headers: dict) -> dict:
            response = client.post(INTERFACE_URL, json=body, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
            return response.json()
        return post
    return make


# --- visits ---------------------------------------------------------------------------------------


@dataclass
class Fault:
    """An interruption of one message: 'answer_lost' (committed, the answer never came back:
    retried with the same msgid), 'answer_lost_reversed' (the same, but the HIS reverses it with
    2601 and sends the step again), 'request_lost' (never arrived: 2601, maybe the original
    late, then the step again under a new msgid)."""

    kind: str
    late_original: bool = False


class Refused(Exception):
    def __init__(self, answer: dict) -> None:
        super().__init__(answer.get("err_msg", ""))
        self.answer = answer


class Player:
    """Plays visits through the HISes, with interruptions, and keeps the report."""

    def __init__(self, world: World, report: DayReport, rng: random.Random, fault_rate: float) -> None:
        self.world, self.report, self.rng, self.fault_rate = world, report, rng, fault_rate

    # one message, maybe interrupted
    def exchange(self, his: HospitalSystem, infno: str, payload: dict, *, psn_no: str = "") -> dict:
        fault = self._fault(infno)
        body = his.envelope(infno, payload)
        if fault is None:
            return self._answered(his.post(body), count=1)
        if fault.kind == "answer_lost":
            first = his.post(body)  # committed; the answer is lost on the way back
            again = his.post(body)  # the same msgid, a new nonce and signature
            self.report.answers_lost += 1
            if _comparable(first) != _comparable(again):
                self.report.replay_mismatches.append(f"{infno} {body['msgid']}")
            return self._answered(again, count=2)
        if fault.kind == "answer_lost_reversed":
            his.post(body)  # committed; the answer is lost
            self.report.answers_lost_reversed += 1
            if not self._reverse(his, body, psn_no):  # the reversal refused: ask the original again
                return self._answered(his.post(body), count=2)
        else:  # request_lost: nothing reached the platform
            self.report.requests_lost += 1
            if not self._reverse(his, body, psn_no):
                return self._answered(his.post(body), count=1)
            if fault.late_original:  # the lost request turns up after its reversal
                late = his.post(body)
                self.report.messages += 1
                if late["infcode"] != 0:
                    self.report.late_originals_refused += 1
                else:
                    self.report.replay_mismatches.append(f"late {infno} {body['msgid']} landed after its 2601")
        return self._answered(his.post(his.envelope(infno, payload)), count=1)

    def _reverse(self, his: HospitalSystem, body: dict, psn_no: str) -> bool:
        """2601 for the message `body`; False when the platform refused to reverse it (the HIS
        then sends the original msgid again, whose answer says what became of it)."""
        answer = his.post(his.envelope("2601", reversal(psn_no=psn_no, omsgid=body["msgid"],
                                                        oinfno=body["infno"])))
        self.report.messages += 1
        if answer["infcode"] != 0:
            code = f"2601 of {body['infno']}: {answer.get('err_code') or answer['infcode']}"
            self.report.reversals_refused[code] += 1
            self.report.refusal_examples.setdefault(code, answer.get("err_msg", ""))
            return False
        return True

    def _fault(self, infno: str) -> Fault | None:
        if infno not in WRITE_MESSAGES or self.rng.random() >= self.fault_rate:
            return None
        kind = self.rng.choice(("answer_lost", "answer_lost", "answer_lost_reversed", "request_lost"))
        return Fault(kind, late_original=kind == "request_lost" and self.rng.random() < 0.5)

    def _answered(self, answer: dict, *, count: int) -> dict:
        self.report.messages += count
        if answer["infcode"] != 0:
            code = answer.get("err_code") or str(answer["infcode"])
            self.report.refused[code] += 1
            self.report.refusal_examples.setdefault(code, answer.get("err_msg", ""))
            raise Refused(answer)
        return answer

    # the visits
    def lookup(self, institution: SimInstitution, person: SimPerson) -> tuple[str, str]:
        answer = self.exchange(institution.his, "1101", person_query(person.ssn))
        output = answer["output"]
        psn_no = output["baseinfo"]["psn_no"]
        insuinfo = output["insuinfo"][0] if isinstance(output.get("insuinfo"), list) else output["insuinfo"]
        person.psn_no = psn_no
        return psn_no, insuinfo["insutype"]

    def outpatient(self, institution: SimInstitution, person: SimPerson, lines: list[Line], *,
                   cancel: bool, use_account: bool) -> None:
        his = institution.his
        med_type = "41" if institution.kind == "pharmacy" else "11"
        psn_no, insutype = self.lookup(institution, person)
        when = _beijing(his.clock.now())
        serial = f"MZ{secrets.token_hex(5).upper()}"
        registered = self.exchange(his, "2201", registration(psn_no=psn_no, insutype=insutype, cert_no=person.ssn,
                                                             begntime=when, serial=serial, med_type=med_type),
                                   psn_no=psn_no)
        mdtrt_id = registered["output"]["data"]["mdtrt_id"]
        self.exchange(his, "2204", fee_details(mdtrt_id=mdtrt_id, psn_no=psn_no, med_type=med_type, lines=lines,
                                               when=when), psn_no=psn_no)
        total = sum(line.amount for line in lines)
        request = settlement_request(psn_no=psn_no, insutype=insutype, cert_no=person.ssn, mdtrt_id=mdtrt_id,
                                     med_type=med_type, total=total, use_account=use_account, serial=serial)
        pre = setlinfo_of(self.exchange(his, "2206", request, psn_no=psn_no))
        settled = setlinfo_of(self.exchange(his, "2207", request, psn_no=psn_no))
        if any(pre[name] != settled[name] for name in SETLINFO_FIELDS if name in pre and name in settled):
            self.report.replay_mismatches.append(f"2206 ≠ 2207 for {mdtrt_id}")
        self._booked(institution, person, insutype, med_type, mdtrt_id, settled)
        self.report.visits["pharmacy" if med_type == "41" else "outpatient"] += 1
        if cancel:
            self._cancel(institution, "2208", psn_no, mdtrt_id, settled["setl_id"])

    def inpatient(self, institution: SimInstitution, person: SimPerson, days: list[list[Line]], *,
                  cancel: bool, use_account: bool) -> None:
        his = institution.his
        psn_no, insutype = self.lookup(institution, person)
        serial = f"ZY{secrets.token_hex(5).upper()}"
        admitted = self.exchange(his, "2401", admission(psn_no=psn_no, insutype=insutype, cert_no=person.ssn,
                                                        begntime=_beijing(his.clock.now()), serial=serial),
                                 psn_no=psn_no)
        output = admitted["output"]
        mdtrt_id = (output.get("result") or output.get("data"))["mdtrt_id"]
        first_sn = 1
        for lines in days:
            self.exchange(his, "2301", fee_details(mdtrt_id=mdtrt_id, psn_no=psn_no, med_type="21", lines=lines,
                                                   when=_beijing(his.clock.now()), first_sn=first_sn), psn_no=psn_no)
            first_sn += len(lines)
        self.exchange(his, "2402", discharge(psn_no=psn_no, insutype=insutype, mdtrt_id=mdtrt_id,
                                             endtime=_beijing(his.clock.now())), psn_no=psn_no)
        total = sum(line.amount for lines in days for line in lines)
        request = settlement_request(psn_no=psn_no, insutype=insutype, cert_no=person.ssn, mdtrt_id=mdtrt_id,
                                     med_type="21", total=total, use_account=use_account, serial=serial)
        pre = setlinfo_of(self.exchange(his, "2303", request, psn_no=psn_no))
        settled = setlinfo_of(self.exchange(his, "2304", request, psn_no=psn_no))
        if any(pre[name] != settled[name] for name in SETLINFO_FIELDS if name in pre and name in settled):
            self.report.replay_mismatches.append(f"2303 ≠ 2304 for {mdtrt_id}")
        self._booked(institution, person, insutype, "21", mdtrt_id, settled)
        self.report.visits["inpatient"] += 1
        if cancel:
            self._cancel(institution, "2305", psn_no, mdtrt_id, settled["setl_id"])

    def _booked(self, institution: SimInstitution, person: SimPerson, insutype: str, med_type: str,
                mdtrt_id: str, settled: dict) -> None:
        entry = BookEntry(settled["setl_id"], mdtrt_id, person.person_id, insutype, med_type,
                          settled["medfee_sumamt"], settled["fund_pay_sumamt"], settled["acct_pay"],
                          settled["psn_cash_pay"])
        self.world.book[institution.code][entry.setl_id] = entry

    def _cancel(self, institution: SimInstitution, infno: str, psn_no: str, mdtrt_id: str, setl_id: str) -> None:
        self.exchange(institution.his, infno, cancellation(psn_no=psn_no, mdtrt_id=mdtrt_id, setl_id=setl_id),
                      psn_no=psn_no)
        self.world.book[institution.code].pop(setl_id, None)
        self.report.cancelled += 1


def _comparable(answer: dict) -> tuple:
    """What a replay must repeat: the outcome and the output (not the reference or times)."""
    return answer["infcode"], answer.get("err_code"), answer.get("output")


def _beijing(moment: datetime) -> str:
    return moment.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S")


def catalogue_lines(day: date) -> dict[str, list]:
    """The catalogue in force by kind, to draw fee lines from."""
    from yikatong.medical import service

    _version, items = service.download_catalogue(day=day)
    by_kind: dict[str, list] = defaultdict(list)
    for item in items:
        by_kind[item.kind].append(item)
    return by_kind


def draw_lines(items: dict[str, list], rng: random.Random, *, count: int, scale: int = 1) -> list[Line]:
    """Fee lines: drugs, services and materials of the catalogue, priced about at their limit
    (some above it, so over-limit self-pay happens); `scale` multiplies the quantities (an
    inpatient stay's days of drugs and care)."""
    pool = [item for kind in ("drug", "service", "material") for item in items.get(kind, [])]
    lines = []
    for item in rng.sample(pool, min(count, len(pool))):
        limit = item.price_limit or rng.choice((800, 2_500, 6_000, 15_000))
        price = max(1, int(limit * rng.choice((0.6, 0.8, 1.0, 1.0, 1.2))))
        lines.append(Line(item.code, rng.randint(1, 3) * scale, price))
    return lines


@dataclass
class PlannedVisit:
    at: datetime
    kind: str  # outpatient | pharmacy | inpatient
    institution: SimInstitution
    person: SimPerson
    lines: list[list[Line]]
    cancel: bool
    use_account: bool


def plan_visits(world: World, count: int, rng: random.Random) -> list[PlannedVisit]:
    """`count` visits between 07:30 and 21:00, in time order: 80 % outpatient (community,
    Level 1-3 by weight), 12 % pharmacy purchases, 8 % inpatient stays (settled today)."""
    items = catalogue_lines(world.day)
    hospitals = [i for i in world.institutions if i.kind == "hospital"]
    pharmacies = [i for i in world.institutions if i.kind == "pharmacy"] or hospitals
    weights = [{"community": 4, "1": 2, "2": 3, "3": 4}.get(h.level, 1) for h in hospitals]
    opening = datetime.combine(world.day, time(7, 30), tzinfo=CST)
    span = 13.5 * 3600
    planned = []
    for _ in range(count):
        at = opening + timedelta(seconds=rng.uniform(0, span))
        shape = rng.random()
        person = rng.choice(world.people)
        if shape < 0.80:
            kind, place = "outpatient", rng.choices(hospitals, weights)[0]
            lines = [draw_lines(items, rng, count=rng.randint(1, 5))]
        elif shape < 0.92:
            kind, place = "pharmacy", rng.choice(pharmacies)
            lines = [draw_lines({"drug": items.get("drug", [])}, rng, count=rng.randint(1, 3))]
        else:
            kind = "inpatient"
            place = rng.choice([h for h in hospitals if h.level in ("2", "3")] or hospitals)
            lines = [draw_lines(items, rng, count=rng.randint(2, 6), scale=rng.choice((2, 4, 8)))
                     for _ in range(rng.randint(1, 3))]
        planned.append(PlannedVisit(at.replace(microsecond=0), kind, place, person, lines,
                                    cancel=rng.random() < 0.04, use_account=rng.random() < 0.85))
    planned.sort(key=lambda visit: visit.at)
    return planned


def play(platform, world: World, planned: list[PlannedVisit], report: DayReport, rng: random.Random,
         fault_rate: float, progress: Progress) -> None:
    player = Player(world, report, rng, fault_rate)
    advance = progress.stage("visits / 就诊结算", len(planned))
    movable = hasattr(platform.clock, "set")
    for visit in planned:
        if movable and visit.at > platform.clock.now():
            platform.clock.set(visit.at)
        try:
            if visit.kind == "inpatient":
                player.inpatient(visit.institution, visit.person, visit.lines, cancel=visit.cancel,
                                 use_account=visit.use_account)
            else:
                player.outpatient(visit.institution, visit.person, visit.lines[0], cancel=visit.cancel,
                                  use_account=visit.use_account)
        except Refused:
            pass  # counted in report.refused; the visit ends there, as at a real counter
        advance(1)


# --- the checks ------------------------------------------------------------------------------------


def reconcile(platform, world: World) -> list[Check]:
    """Every fen: the fund, each personal account, each person's year, each institution (its
    ledger account, its 3201 totals, its settlements one by one), the ledger itself."""
    from yikatong.ledger import service as ledger
    from yikatong.ledger.errors import AccountNotFound
    from yikatong.ledger.models import LedgerAccount, Posting
    from yikatong.medical import models, service

    checks: list[Check] = []
    with platform.uow() as uow:
        session = uow.session
        live = session.execute(select(models.Settlement).where(models.Settlement.state == "settled")).scalars().all()
        everyone = {p.person_id for p in world.people}

        def balance(code: str) -> Fen:
            try:
                return ledger.balance(uow=uow, code=code)
            except AccountNotFound:
                return 0

        # the fund, by insured city
        by_pool: dict[str, Fen] = defaultdict(int)
        for row in live:
            by_pool[service.pool_code(row.insuplc_admdvs)] += row.fund_pay_sumamt
        booked_fund = sum(e.fund_pay_sumamt for entries in world.book.values() for e in entries.values())
        pools = {code: balance(code) for code in by_pool} or {service.pool_code(CITY): balance(service.pool_code(CITY))}
        agree = all(pools[code] == by_pool.get(code, 0) for code in pools) and sum(by_pool.values()) == booked_fund
        checks.append(Check("fund = Σ fund_pay_sumamt of live settlements / 统筹基金 = 有效结算基金支付合计", agree,
                            "; ".join(f"{code} {pools[code]} = {by_pool.get(code, 0)} fen" for code in sorted(pools))
                            + f"; HIS answers {booked_fund} fen"))

        # personal accounts
        acct_paid: dict[int, Fen] = defaultdict(int)
        for row in live:
            acct_paid[row.person_id] += row.acct_pay
        booked_acct: dict[int, Fen] = defaultdict(int)
        for entries in world.book.values():
            for entry in entries.values():
                booked_acct[entry.person_id] += entry.acct_pay
        wrong = []
        for person in world.people:
            actual = service.account_balance(uow=uow, person_id=person.person_id)
            if not actual == person.credited - acct_paid[person.person_id] == person.credited - booked_acct[person.person_id]:
                wrong.append(f"{person.person_id}: {actual} ≠ {person.credited} − {acct_paid[person.person_id]}")
        checks.append(Check("each personal account = credits − Σ acct_pay / 个人账户 = 划入 − 账户支付", not wrong,
                            f"{len(world.people) - len(wrong)} of {len(world.people)} accounts agree"
                            + (f"; not: {wrong[:3]}" if wrong else "")))

        # year totals
        deltas: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TOTALS_FIELDS, 0))
        for row in live:
            for name in TOTALS_FIELDS:
                deltas[row.person_id][name] += int((row.totals_delta or {}).get(name, 0))
        year = world.day.year
        rows = {row.person_id: row for row in session.execute(
            select(models.YearTotals).where(models.YearTotals.year == year)).scalars()}
        wrong = []
        for person_id in everyone | set(rows):
            row = rows.get(person_id)
            actual = {name: getattr(row, name) if row else 0 for name in TOTALS_FIELDS}
            if actual != deltas[person_id]:
                off = {n: actual[n] - deltas[person_id][n] for n in TOTALS_FIELDS if actual[n] != deltas[person_id][n]}
                wrong.append(f"{person_id}: {off}")
        checks.append(Check("each person's year totals = Σ deltas / 年度累计 = 各结算增量之和", not wrong,
                            f"{len(everyone) - len(wrong)} of {len(everyone)} people agree"
                            + (f"; not: {wrong[:3]}" if wrong else "")))

        # institutions: payable, the book one by one
        platform_ids: dict[str, dict[str, Any]] = defaultdict(dict)
        for row in live:
            platform_ids[row.fixmedins_code][row.setl_id] = row
        wrong = []
        for institution in world.institutions:
            code = institution.code
            ours = platform_ids.get(code, {})
            theirs = world.book.get(code, {})
            due = sum(r.fund_pay_sumamt + r.acct_pay for r in ours.values())
            payable = balance(service.payable_code(code))
            if set(ours) != set(theirs) or payable != due or any(
                    (ours[s].medfee_sumamt, ours[s].fund_pay_sumamt, ours[s].acct_pay, ours[s].psn_cash_pay)
                    != (theirs[s].medfee_sumamt, theirs[s].fund_pay_sumamt, theirs[s].acct_pay, theirs[s].psn_cash_pay)
                    for s in set(ours) & set(theirs)):
                wrong.append(f"{code}: {len(ours)} settlements here, {len(theirs)} in its book; "
                             f"payable {payable} vs {due}")
        checks.append(Check("each institution's settlements and payable agree / 机构结算明细与应付一致", not wrong,
                            f"{len(world.institutions) - len(wrong)} of {len(world.institutions)} institutions"
                            + (f"; not: {wrong[:3]}" if wrong else "")))

        # every medical ledger account: its balance = Σ of its postings (on its normal side)
        sums = dict(session.execute(
            select(LedgerAccount.code, func.coalesce(func.sum(Posting.amount), 0))
            .join(Posting, Posting.account_id == LedgerAccount.id, isouter=True)
            .where(LedgerAccount.code.like("medical:%")).group_by(LedgerAccount.code)).all())
        kinds = dict(session.execute(select(LedgerAccount.code, LedgerAccount.kind)
                                     .where(LedgerAccount.code.like("medical:%"))).all())
        wrong = []
        for code, total in sums.items():
            normal = int(total) if kinds[code] in ("asset", "expense") else -int(total)
            if balance(code) != normal:
                wrong.append(f"{code}: {balance(code)} ≠ Σ postings {normal}")
        checks.append(Check("ledger balances = Σ postings / 账户余额 = 分录合计", not wrong,
                            f"{len(sums)} medical ledger accounts" + (f"; not: {wrong[:3]}" if wrong else "")))
        trial = ledger.trial_balance(uow=uow)
        checks.append(Check("ledger trial balance / 总账试算平衡", trial.balanced,
                            f"debits {trial.total_debits} = credits {trial.total_credits} fen"))
    checks.append(_statement_check(world))
    return checks


def _statement_check(world: World) -> Check:
    """3201 per institution, insutype and clearing type (med_type) with its own book's totals:
    the platform must agree."""
    differ, asked = [], 0
    for institution in world.institutions:
        groups: dict[tuple[str, str], list[BookEntry]] = defaultdict(list)
        for entry in world.book.get(institution.code, {}).values():
            groups[(entry.insutype, entry.med_type)].append(entry)
        kinds = ("41",) if institution.kind == "pharmacy" else ("11", "21")
        for insutype in ("310", "390"):
            for med_type in kinds:
                entries = groups.get((insutype, med_type), [])
                his = institution.his
                answer = his.post(his.envelope("3201", totals_request(
                    insutype=insutype, clr_type=med_type, day=world.day,
                    medfee=sum(e.medfee_sumamt for e in entries), fund=sum(e.fund_pay_sumamt for e in entries),
                    account=sum(e.acct_pay for e in entries), cash=sum(e.psn_cash_pay for e in entries),
                    count=len(entries))))
                asked += 1
                result = ((answer.get("output") or {}).get("stmtinfo") or {}).get("stmt_rslt")
                if answer["infcode"] != 0 or str(result) != "0":
                    differ.append(f"{institution.code}/{insutype}/{med_type}: "
                                  f"{answer.get('err_msg') or answer['output']['stmtinfo'].get('stmt_rslt_dscr')}")
    return Check("each institution's 3201 totals agree / 各机构对总账一致", not differ,
                 f"{asked - len(differ)} of {asked} statements (institution × insutype × clr_type) agree"
                 + (f"; not: {differ[:2]}" if differ else ""))


def _summarise(world: World, report: DayReport) -> None:
    for entries in world.book.values():
        for entry in entries.values():
            report.medfee += entry.medfee_sumamt
            report.fund_paid += entry.fund_pay_sumamt
            report.account_paid += entry.acct_pay
            report.cash_paid += entry.psn_cash_pay


# --- the day -----------------------------------------------------------------------------------------


def simulate_medical_day(platform, *, people: int, visits: int, day: date | None = None, seed: int = 20260302,
                         fault_rate: float = 0.05, app=None, progress: Progress | None = None) -> tuple[DayReport, World]:
    """Play one day (see the module docstring) on `platform`'s database through the institution
    interface of `app` (the platform's ASGI application; made when None) and return what
    happened and the checks. Other traffic in the same database would show in the checks: use
    a database of its own."""
    if people < 1 or visits < 0 or not 0 <= fault_rate <= 1:
        raise ValueError("at least one person, no negative number of visits, a fault rate in [0, 1]")
    progress = progress or SILENT
    rng = random.Random(seed)
    if app is None:
        from yikatong.api.app import create_app

        app = create_app(platform)
    if hasattr(platform.clock, "set"):
        day = day or local_date(platform.clock.now())
        platform.clock.set(datetime.combine(day, time(7, 0), tzinfo=CST))
    day = day or local_date(platform.clock.now())
    report = DayReport(day=day, database=platform.engine.url.render_as_string(),
                       door="institution interface (signed envelopes through the ASGI app)")
    sim_people = make_people(platform, people, day, rng, progress)
    report.people = len(sim_people)
    for person in sim_people:
        kind = "resident" if person.scheme == "390" else "employee, retired" if person.retired else "employee"
        report.people_by_kind[kind] = report.people_by_kind.get(kind, 0) + 1
    report.credited = sum(p.credited for p in sim_people)
    institutions = _make_institutions(platform, asgi_transport(app), progress)
    report.institutions = len(institutions)
    world = World(day, sim_people, institutions)
    planned = plan_visits(world, visits, rng)
    report.visits_planned = len(planned)
    play(platform, world, planned, report, rng, fault_rate, progress)
    _summarise(world, report)
    advance = progress.stage("reconciling / 对账", 1)
    report.checks = [*reconcile(platform, world),
                     Check("replays and reversals behave / 重发与冲正正确", not report.replay_mismatches,
                           f"{report.answers_lost} answers lost and re-asked, {report.answers_lost_reversed} "
                           f"reversed after commit, {report.requests_lost} lost requests reversed, "
                           f"{report.late_originals_refused} late originals refused"
                           + (f"; wrong: {report.replay_mismatches[:3]}" if report.replay_mismatches else ""))]
    advance(1)
    return report, world
