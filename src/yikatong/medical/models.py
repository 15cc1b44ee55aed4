"""Medical insurance tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from yikatong.db.base import Base

# --- cross-region (medregion) ---


class CrossRegionFiling(Base):
    """A filing (异地就医备案) of a person insured here for care in another region: long-term
    (异地长期居住: retired and settled there, living there, posted to work there) or temporary
    (临时外出就医: referral, emergency, other). It covers the days begin … end (end None: open)
    in the region filed for; `filed_on` later than `begin` is a filing after the fact (补办).
    A cancelled filing covers nothing from `cancelled_from` on (visits before keep theirs)."""

    __tablename__ = "medical_crossregion_filings"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[str] = mapped_column(String(128), unique=True)  # idempotency key
    request_hash: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    insured_admdvs: Mapped[str] = mapped_column(String(6))  # the insured region (320400)
    filed_admdvs: Mapped[str] = mapped_column(String(6))  # the region filed for (320100, 310000 …)
    kind: Mapped[str] = mapped_column(String(16))  # long_term | temporary
    reason: Mapped[str] = mapped_column(String(24))  # crossregion.Reason
    begin: Mapped[date]
    end: Mapped[date | None]
    filed_on: Mapped[date]
    after_the_fact: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | cancelled
    cancelled_from: Mapped[date | None]
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class InterRegionSettlement(Base):
    """One cross-region settlement as the Changzhou office sees it, append-only.

    direction `out`: our insured person treated in `counterpart_admdvs` (our office owes that
    region what its institution was paid for us: fund + personal account); direction `in`: a
    person insured in `counterpart_admdvs` treated by one of our institutions (that region owes
    us what our office advanced to the institution). A cancellation is a row of its own with
    the amounts negated (`reverses` names the row it undoes), cleared on its own day."""

    __tablename__ = "medical_interregion_settlements"
    __table_args__ = (UniqueConstraint("direction", "setl_id", "entry"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(3))  # out | in
    counterpart_admdvs: Mapped[str] = mapped_column(String(6), index=True)
    insured_admdvs: Mapped[str] = mapped_column(String(6))
    treatment_admdvs: Mapped[str] = mapped_column(String(6))
    setl_id: Mapped[str] = mapped_column(String(64))  # the insured region's settlement id
    entry: Mapped[str] = mapped_column(String(8))  # settle | cancel
    msgid: Mapped[str] = mapped_column(String(64))  # the institution's message id of the settle/cancel
    reverses: Mapped[int | None] = mapped_column(ForeignKey("medical_interregion_settlements.id"))
    fixmedins_code: Mapped[str] = mapped_column(String(32))
    psn_no: Mapped[str] = mapped_column(String(32))  # the insured region's person number
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))  # ours (direction out)
    cross_region: Mapped[str] = mapped_column(String(16))  # rules.CrossRegion of the settlement
    medfee_sumamt: Mapped[int] = mapped_column(BigInteger)
    fund_pay_sumamt: Mapped[int] = mapped_column(BigInteger)
    acct_pay: Mapped[int] = mapped_column(BigInteger)
    psn_cash_pay: Mapped[int] = mapped_column(BigInteger)
    owed: Mapped[int] = mapped_column(BigInteger)  # fund + account: what the offices clear
    day: Mapped[date] = mapped_column(index=True)  # the clearing day (CST)
    policy_version: Mapped[str] = mapped_column(String(64))  # the insured region's policy
    setlinfo: Mapped[dict]  # every setlinfo field of the answer (for the holder's view, a cancellation)
    totals_delta: Mapped[dict] = mapped_column(default=dict)  # ours (out): what it added to the year
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("medical_interregion_batches.id"), index=True)
    created_at: Mapped[datetime]


class InterRegionBatch(Base):
    """One day's clearing between the Changzhou office and one other region's office: every
    settlement of that day in both directions, the totals, and the file's SM3 digest. Only an
    `agreed` batch (the national platform's book matched it to the fen) holds rows and posted
    the money; a `disputed` one records the attempt and its differences."""

    __tablename__ = "medical_interregion_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[str] = mapped_column(String(64), unique=True)
    counterpart_admdvs: Mapped[str] = mapped_column(String(6))
    day: Mapped[date]
    rows: Mapped[int]
    receivable: Mapped[int] = mapped_column(BigInteger)  # the counterpart owes us (direction in)
    payable: Mapped[int] = mapped_column(BigInteger)  # we owe the counterpart (direction out)
    net: Mapped[int] = mapped_column(BigInteger)  # receivable − payable: + the counterpart pays us
    digest: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # agreed | disputed
    differences: Mapped[dict] = mapped_column(default=dict)  # {"missing": [...], "unknown": [...]}
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))
