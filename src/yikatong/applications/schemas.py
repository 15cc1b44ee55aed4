"""Request and response shapes of the applications API; the responses are built from the
service views (core.response_models), where their fields are declared."""

from __future__ import annotations

from datetime import date
from typing import Literal, Self

from pydantic import BaseModel, Field

from yikatong.applications.production import CollectOutcome, ProductionBatchView
from yikatong.applications.service import (
    AgentData,
    ApplicantData,
    ApplicationView,
    CardChoice,
    EmployeeRow,
    EmployerBatchView,
    RowOutcome,
)
from yikatong.core.masking import mask_ssn
from yikatong.core.response_models import ViewModel, response_model
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
    photo_jpeg_base64: PhotoBase64 | None = Field(
        default=None, description="JPEG, 358×441, 350 dpi, base64; without it the registry's photo")

    def photo(self) -> bytes | None:
        return decode_photo(self.photo_jpeg_base64)

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


RowOut = response_model(RowOutcome, name="RowOut")
EmployerBatchOut = response_model(EmployerBatchView, name="EmployerBatchOut",
                                  nested={"rows": list[RowOut]})


class _ApplicationShown(ViewModel):
    @classmethod
    def of(cls, app: ApplicationView, *, masked: bool = False) -> Self:
        """The application; in a list (`masked`) the document numbers of the applicant and
        of an agent are masked."""
        if not masked:
            return cls.model_validate(app)
        agent = app.agent and app.agent | {"document_number": mask_ssn(app.agent["document_number"])}
        return cls.from_view(app, document_number=mask_ssn(app.document_number), agent=agent)


# Who submitted it, and the PAN, stay inside; the activation code is only in the hand-over's answer.
_INSIDE = ("pan", "submitted_by", "submitted_by_user_id")
_NOTES = ("fee_zh", "fee_en", "delivery_note_zh", "delivery_note_en")
ApplicationOut = response_model(ApplicationView, name="ApplicationOut", base=_ApplicationShown,
                                exclude=(*_INSIDE, "activation_code"), properties=_NOTES)
HandOverOut = response_model(ApplicationView, name="HandOverOut", base=_ApplicationShown,
                             exclude=_INSIDE, properties=_NOTES)


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


ProductionBatchOut = response_model(ProductionBatchView, name="ProductionBatchOut")
# The factory's failures as {application_id, reason} (the view keeps them as pairs).
CollectOut = response_model(CollectOutcome, name="CollectOut", types={"failures": list[dict]},
                            nested={"batch": ProductionBatchOut})
