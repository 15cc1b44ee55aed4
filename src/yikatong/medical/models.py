"""Tables of the medical insurance domain (issue 13): enrolment, designated institutions,
chronic/special disease filings, visits with their fee lines, settlements, each person's
running yearly totals and the institutions' handled messages (idempotency by msgid).

Money is integer fen (BigInteger). The personal account (个人账户) and the pooled fund are
ledger accounts (ledger.models), not columns here: a settlement row names the journals that
moved them. The catalogue of drugs and services is versioned reference data in a TOML file
(config/catalogue-changzhou.toml, catalogue.py); a fee line keeps the catalogue version, class,
price limit and pre-self-pay ratio it was classed with.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base


class InsuredPerson(Base):
    """A person known to medical insurance: the national person number (psn_no) and the code
    of their personal account in the ledger. Made at the first enrolment, kept for good."""

    __tablename__ = "medical_insured"

    person_id: Mapped[int] = mapped_column(primary_key=True)
    psn_no: Mapped[str] = mapped_column(String(30), unique=True)
    account_code: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Enrolment(Base):
    """One enrolment period (参保): scheme (insutype 310 employees / 390 residents), insured
    region (admdvs), in service or retired, employer, from `start_date` to `end_date` (inclusive; None:
    open). A person's periods never overlap; a change (retirement, a new employer, another
    scheme) closes the open period the day before the new one starts."""

    __tablename__ = "medical_enrolments"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(index=True)
    scheme: Mapped[str] = mapped_column(String(3))  # insutype: 310 | 390
    insured_admdvs: Mapped[str] = mapped_column(String(6))
    retired: Mapped[bool]
    assistance: Mapped[bool] = mapped_column(default=False)  # a medical-assistance recipient
    employer_uscc: Mapped[str | None] = mapped_column(String(18))
    employer_name: Mapped[str | None] = mapped_column(String(128))
    start_date: Mapped[date]
    end_date: Mapped[date | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}


class Institution(Base):
    """A designated institution (定点医药机构): hospital by level or pharmacy, its national
    code (fixmedins_code, H32040200001 / P32040200101) and region. Its signing secret is kept
    sealed under the key store's KEK (KeyStore.seal); None until one is issued."""

    __tablename__ = "medical_institutions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # hospital | pharmacy
    level: Mapped[str] = mapped_column(String(16))  # community | 1 | 2 | 3 | pharmacy
    admdvs: Mapped[str] = mapped_column(String(6))
    active: Mapped[bool]
    secret_sealed: Mapped[str | None] = mapped_column(String(400))
    secret_issued_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class DiseaseFiling(Base):
    """A chronic or special disease filing (慢特病备案, 2503), revoked by 2504."""

    __tablename__ = "medical_disease_filings"

    id: Mapped[int] = mapped_column(primary_key=True)
    filing_no: Mapped[str] = mapped_column(String(30), unique=True)
    person_id: Mapped[int] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(16))  # chronic | special
    disease_code: Mapped[str] = mapped_column(String(20))
    disease_name: Mapped[str] = mapped_column(String(100))
    fixmedins_code: Mapped[str | None] = mapped_column(String(12))
    begin_date: Mapped[date]
    end_date: Mapped[date | None]
    filed_by: Mapped[str] = mapped_column(String(64))
    filed_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))


class Visit(Base):
    """One visit (就诊): an outpatient registration (2201), an inpatient admission (2401) or a
    pharmacy purchase, at one institution, by one insured person. `state`: open (registered or
    admitted), discharged (inpatient, 2402), settled, cancelled (registration withdrawn or its
    message reversed)."""

    __tablename__ = "medical_visits"

    id: Mapped[int] = mapped_column(primary_key=True)
    mdtrt_id: Mapped[str] = mapped_column(String(30), unique=True)
    fixmedins_code: Mapped[str] = mapped_column(String(12), index=True)
    person_id: Mapped[int] = mapped_column(index=True)
    psn_no: Mapped[str] = mapped_column(String(30))
    insutype: Mapped[str] = mapped_column(String(3))
    insuplc_admdvs: Mapped[str] = mapped_column(String(6))
    mdtrtarea_admvs: Mapped[str] = mapped_column(String(6))
    med_type: Mapped[str] = mapped_column(String(4))  # 11 | 21 | 41
    cert_type: Mapped[str] = mapped_column(String(2))  # the credential it was opened with
    dise_codg: Mapped[str | None] = mapped_column(String(20))
    dept: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    begin_at: Mapped[datetime] = mapped_column(index=True)
    end_at: Mapped[datetime | None]
    msgid: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}


class FeeLine(Base):
    """One fee detail line (2204 / 2301) as classed by the catalogue version in force that
    day: class (A 甲 / B 乙 / C 丙), the price limit for the line's quantity (None: no limit)
    and the 乙 pre-self-pay ratio. `settlement_id` is set while a settlement holds the line."""

    __tablename__ = "medical_fee_lines"
    __table_args__ = (UniqueConstraint("visit_id", "feedetl_sn"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("medical_visits.id"), index=True)
    feedetl_sn: Mapped[str] = mapped_column(String(30))
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(100))
    item_class: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[int]
    unit_price: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    price_limit: Mapped[int | None] = mapped_column(BigInteger)
    pre_self_pay_bp: Mapped[int]
    catalogue_version: Mapped[str] = mapped_column(String(32))
    fee_at: Mapped[datetime]
    msgid: Mapped[str] = mapped_column(String(30))
    settlement_id: Mapped[int | None] = mapped_column(index=True)
    created_at: Mapped[datetime]


class Settlement(Base):
    """One settlement (2207 / 2304) with every national setlinfo field, the policy version it
    was computed under, what it added to the person's year (`totals_delta`, subtracted again
    exactly by a cancellation) and the ledger journal it posted. `state`: settled | cancelled."""

    __tablename__ = "medical_settlements"

    id: Mapped[int] = mapped_column(primary_key=True)
    setl_id: Mapped[str] = mapped_column(String(30), unique=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("medical_visits.id"), index=True)
    mdtrt_id: Mapped[str] = mapped_column(String(30))
    fixmedins_code: Mapped[str] = mapped_column(String(12), index=True)
    person_id: Mapped[int] = mapped_column(index=True)
    psn_no: Mapped[str] = mapped_column(String(30))
    insutype: Mapped[str] = mapped_column(String(3))
    med_type: Mapped[str] = mapped_column(String(4))
    insuplc_admdvs: Mapped[str] = mapped_column(String(6))
    mdtrtarea_admvs: Mapped[str] = mapped_column(String(6))
    cert_type: Mapped[str] = mapped_column(String(2))
    cross_region: Mapped[str] = mapped_column(String(16))
    year: Mapped[int]
    medins_setl_id: Mapped[str] = mapped_column(String(30))
    medfee_sumamt: Mapped[int] = mapped_column(BigInteger)
    fulamt_ownpay_amt: Mapped[int] = mapped_column(BigInteger)
    overlmt_selfpay: Mapped[int] = mapped_column(BigInteger)
    preselfpay_amt: Mapped[int] = mapped_column(BigInteger)
    inscp_scp_amt: Mapped[int] = mapped_column(BigInteger)
    act_pay_dedc: Mapped[int] = mapped_column(BigInteger)
    hifp_pay: Mapped[int] = mapped_column(BigInteger)
    pool_prop_selfpay: Mapped[int]  # basis points
    cvlserv_pay: Mapped[int] = mapped_column(BigInteger)
    hifes_pay: Mapped[int] = mapped_column(BigInteger)
    hifmi_pay: Mapped[int] = mapped_column(BigInteger)
    hifob_pay: Mapped[int] = mapped_column(BigInteger)
    maf_pay: Mapped[int] = mapped_column(BigInteger)
    oth_pay: Mapped[int] = mapped_column(BigInteger)
    fund_pay_sumamt: Mapped[int] = mapped_column(BigInteger)
    hosp_part_amt: Mapped[int] = mapped_column(BigInteger)
    psn_part_amt: Mapped[int] = mapped_column(BigInteger)
    acct_pay: Mapped[int] = mapped_column(BigInteger)
    psn_cash_pay: Mapped[int] = mapped_column(BigInteger)
    acct_mulaid_pay: Mapped[int] = mapped_column(BigInteger)
    balc: Mapped[int] = mapped_column(BigInteger)
    policy_version: Mapped[str] = mapped_column(String(32))
    catalogue_version: Mapped[str] = mapped_column(String(32))
    totals_delta: Mapped[dict]
    journal_request_id: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    msgid: Mapped[str] = mapped_column(String(30))
    settled_at: Mapped[datetime] = mapped_column(index=True)
    cancelled_at: Mapped[datetime | None]
    cancel_msgid: Mapped[str | None] = mapped_column(String(30))
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}


class YearTotals(Base):
    """One person's running totals for one calendar year (the rules' YearTotals, 5206). Every
    settlement adds its totals_delta here in its own transaction; a cancellation subtracts it."""

    __tablename__ = "medical_year_totals"
    __table_args__ = (UniqueConstraint("person_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(index=True)
    year: Mapped[int]
    outpatient_deductible: Mapped[int] = mapped_column(BigInteger, default=0)
    outpatient_fund: Mapped[int] = mapped_column(BigInteger, default=0)
    inpatient_admissions: Mapped[int] = mapped_column(default=0)
    inpatient_fund: Mapped[int] = mapped_column(BigInteger, default=0)
    serious_base: Mapped[int] = mapped_column(BigInteger, default=0)
    serious_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    subsidy_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    assistance_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    medfee_total: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(nullable=False)

    __mapper_args__ = {"version_id_col": version}


class HandledMessage(Base):
    """A message of an institution already handled: the same msgid again answers `response`
    and changes nothing. Written in the transaction of the change it made. A reversal (2601)
    of a message that never landed leaves a row with `reversed` set, so the late original is
    refused instead of landing after its reversal."""

    __tablename__ = "medical_messages"
    __table_args__ = (UniqueConstraint("fixmedins_code", "msgid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fixmedins_code: Mapped[str] = mapped_column(String(12))
    msgid: Mapped[str] = mapped_column(String(30))
    infno: Mapped[str] = mapped_column(String(4))
    request_hash: Mapped[str] = mapped_column(String(64))
    response: Mapped[dict]
    reversed: Mapped[bool] = mapped_column(default=False)
    reversed_by: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[datetime]
