"""Request and response shapes of the applications API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from yikatong.applications import rules
from yikatong.applications.service import (
    AgentData,
    ApplicantData,
    ApplicationView,
    CardChoice,
    EmployeeRow,
)
from yikatong.people.schemas import PhotoBase64, RowId, decode_photo


class ApplicantIn(BaseModel):
    name: str = Field(min_length=1, max_length=60)
    document_type: str = Field(examples=["resident_id_card"])
    document_number: str = Field(min_length=1, max_length=32)
    gender: Literal["M", "F"]
    birth_date: date
    nationality: str = "CHN"
    phone: str | None = Field(default=None, max_length=20)
    address: str | None = Field(default=None, max_length=200)
    document_valid_until: date | None = None
    photo_jpeg_base64: PhotoBase64 | None = Field(default=None, description="JPEG, 358×441, 350 dpi, base64")
    holds_id_card: bool = False

    def to_data(self) -> ApplicantData:
        return ApplicantData(
            name=self.name, document_type=self.document_type,
            document_number=self.document_number, gender=self.gender,
            birth_date=self.birth_date, nationality=self.nationality, phone=self.phone,
            address=self.address, document_valid_until=self.document_valid_until,
            photo_jpeg=decode_photo(self.photo_jpeg_base64), holds_id_card=self.holds_id_card,
        )


class AgentIn(BaseModel):
    name: str = Field(min_length=1, max_length=60)
    document_type: str
    document_number: str = Field(min_length=1, max_length=32)
    phone: str | None = None

    def to_data(self) -> AgentData:
        return AgentData(name=self.name, document_type=self.document_type,
                         document_number=self.document_number, phone=self.phone)


class OutletApplicationIn(BaseModel):
    """An application at the counter (self or by an agent)."""

    applicant: ApplicantIn
    kind: Literal["first", "replacement", "exchange"] = "first"
    exchange_reason: Literal["info_change", "damage", "financial_expiry"] | None = None
    bank_code: str
    pickup_outlet_code: str
    agent: AgentIn | None = None
    card_unreadable: bool = Field(
        default=False, description="damage exchange of a card the chip reader cannot read: "
                                   "its transit balance is refunded later from records")

    def choice(self) -> CardChoice:
        return CardChoice(kind=self.kind, bank_code=self.bank_code, delivery="pickup",
                          pickup_outlet_code=self.pickup_outlet_code,
                          exchange_reason=self.exchange_reason,
                          card_unreadable=self.card_unreadable)


class OnlineApplicationIn(BaseModel):
    """An online application after real-name authentication (portal or app)."""

    name: str = Field(min_length=1, max_length=60)
    id_number: str = Field(min_length=15, max_length=18)
    auth_evidence: str = Field(min_length=1, description="ticket from the real-name check")
    kind: Literal["first", "replacement"] = "first"
    bank_code: str
    delivery: Literal["ems_cod", "pickup"] = "ems_cod"
    mailing_address: str | None = Field(default=None, max_length=200)
    pickup_outlet_code: str | None = None
    phone: str | None = Field(default=None, max_length=20)

    def choice(self) -> CardChoice:
        return CardChoice(kind=self.kind, bank_code=self.bank_code, delivery=self.delivery,
                          pickup_outlet_code=self.pickup_outlet_code,
                          mailing_address=self.mailing_address)


class EmployeeIn(BaseModel):
    applicant: ApplicantIn
    bank_code: str
    pickup_outlet_code: str

    def to_row(self) -> EmployeeRow:
        return EmployeeRow(applicant=self.applicant.to_data(), choice=CardChoice(
            kind="first", bank_code=self.bank_code, delivery="pickup",
            pickup_outlet_code=self.pickup_outlet_code))


class EmployerBatchIn(BaseModel):
    employer_name: str = Field(min_length=1, max_length=128)
    uscc: str | None = Field(default=None, description="统一社会信用代码 (GB 32100-2015)")
    authorisation_letter_ref: str | None = Field(default=None, description="授权委托书编号")
    agent: AgentIn
    employees: list[EmployeeIn] = Field(min_length=1, max_length=1000)


class RowOut(BaseModel):
    row: int
    name: str
    accepted: bool
    application_id: int | None
    status: str | None
    code: str | None
    reason_zh: str | None
    reason_en: str | None


class EmployerBatchOut(BaseModel):
    id: int
    employer_name: str
    uscc: str | None
    authorisation_letter_ref: str | None
    accepted: int
    rejected: int
    rows: list[RowOut]


class ApplicationOut(BaseModel):
    id: int
    kind: str
    exchange_reason: str | None
    mode: str
    channel: str
    status: str
    person_id: int | None
    identity_review_id: int | None
    applicant_name: str
    document_type: str
    document_number: str
    agent: dict | None
    employer_batch_id: int | None
    bank_code: str
    delivery: str
    pickup_outlet_code: str | None
    mailing_address: str | None
    ems_tracking_no: str | None
    predecessor_card_no: str | None
    production_batch_id: int | None
    card_no: str | None
    issue_date: date | None
    decision_reason: str | None
    submitted_at: datetime
    warnings: list[str] = []
    fee_zh: str = rules.FREE_OF_CHARGE["zh"]
    fee_en: str = rules.FREE_OF_CHARGE["en"]
    delivery_note_zh: str | None = None
    delivery_note_en: str | None = None

    @classmethod
    def of(cls, app: ApplicationView, *, masked: bool = False) -> ApplicationOut:
        from yikatong.people.rules import mask_ssn

        data = {name: getattr(app, name) for name in cls.model_fields if hasattr(app, name)}
        data["warnings"] = list(app.warnings)
        if masked:
            data["document_number"] = mask_ssn(app.document_number)
            if app.agent:
                data["agent"] = app.agent | {"document_number":
                                             mask_ssn(app.agent["document_number"])}
        if app.delivery == "ems_cod":
            data["delivery_note_zh"] = rules.EMS_COD_NOTE["zh"]
            data["delivery_note_en"] = rules.EMS_COD_NOTE["en"]
        return cls(**data)


class HandOverOut(ApplicationOut):
    activation_code: str | None = Field(
        default=None, description="for the holder's online sign-up; shown this once only / "
                                  "持卡人网上注册用的激活码，仅显示这一次")



class RejectIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class CancelIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class ShipIn(BaseModel):
    tracking_no: str = Field(min_length=1, max_length=32)


class IdentityResolvedIn(BaseModel):
    person_id: RowId | None = Field(default=None, description="default: the review's outcome")


class ProductionBatchIn(BaseModel):
    limit: int | None = Field(default=None, ge=1, le=10000)


class ProductionBatchOut(BaseModel):
    id: int
    factory_batch_id: str | None
    status: str
    issue_date: date
    size: int
    produced: int
    failed: int
    application_ids: list[int]


class CollectOut(BaseModel):
    batch: ProductionBatchOut
    complete: bool
    produced_card_nos: list[str]
    failures: list[dict]
    warnings: list[str]
