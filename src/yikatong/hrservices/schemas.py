"""Request and response shapes of the HR services API (api.py)."""

from __future__ import annotations

import base64
import binascii
from datetime import date

from pydantic import BaseModel, Field

from yikatong.core.errors import InvalidInput
from yikatong.core.money import MAX_AMOUNT_FEN
from yikatong.core.response_models import response_model
from yikatong.hrservices.service import CardAccountView, CaseView, Decision, DocumentView

CARD_NO = Field(default=None, min_length=9, max_length=16,
                description="the card the outlet's reader read (outlets) / 网点读取的社会保障卡号")
ECARD = Field(default=None, min_length=16, max_length=4096,
              description="an e-card code the holder shows instead of the card (holders) / 电子社保卡码")


class DocumentKindOut(BaseModel):
    kind: str
    zh: str
    en: str
    types: list[str]
    max_bytes: int


class ServiceOut(BaseModel):
    code: str
    zh: str
    en: str
    opened_by: list[str]
    required: list[DocumentKindOut]
    optional: list[DocumentKindOut]
    review_steps: list[str]
    outcome: str
    outcome_zh: str
    outcome_en: str


class Credential(BaseModel):
    card_no: str | None = CARD_NO
    ecard_token: str | None = ECARD


class CaseOpenIn(Credential):
    service_code: str = Field(min_length=3, max_length=48)
    particulars: dict[str, str] = Field(default_factory=dict, max_length=12,
                                        description="what the opener writes (employer, dates …) / 填写事项")
    person_id: int | None = Field(default=None, ge=1, le=2**63 - 1,
                                  description="a guardian's linked child under 16 (holders); default oneself "
                                              "/ 监护人为被监护人申办")


class DocumentIn(Credential):
    kind: str = Field(min_length=2, max_length=32)
    file_name: str = Field(min_length=1, max_length=120)
    content_type: str = Field(min_length=3, max_length=32, description="application/pdf, image/jpeg or image/png")
    content_base64: str = Field(min_length=4, max_length=3 * 1024 * 1024)

    def content(self) -> bytes:
        try:
            return base64.b64decode(self.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(reason_zh="文件内容须为 base64", reason_en="the content must be base64") from None


class WithdrawIn(Credential):
    reason: str = Field(default="", max_length=500)


class AskIn(BaseModel):
    kinds: list[str] = Field(min_length=1, max_length=12)
    note: str = Field(min_length=1, max_length=500)


class ApproveIn(BaseModel):
    note: str = Field(default="", max_length=500)
    scheme: str | None = Field(default=None, pattern=r"^(310|390)$", description="medical enrolment: 310 | 390")
    insured_admdvs: str | None = Field(default=None, pattern=r"^\d{6}$")
    start_date: date | None = None
    employer_uscc: str | None = Field(default=None, max_length=18)
    employer_name: str | None = Field(default=None, max_length=128)
    contribution_months: int | None = Field(default=None, ge=0, le=600,
                                            description="unemployment benefit: months of contributions")
    amount_fen: int | None = Field(default=None, ge=1, le=MAX_AMOUNT_FEN, description="work-injury reimbursement: approved amount")

    def decision(self) -> Decision:
        return Decision(**self.model_dump())


class RefuseIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class CardAccountIn(BaseModel):
    person_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    id_number: str | None = Field(default=None, min_length=15, max_length=18)
    purpose: str = Field(min_length=2, max_length=200, description="why the HR system reads it / 用途")


DocumentOut = response_model(DocumentView, name="HrDocumentOut")
CaseOut = response_model(CaseView, name="HrCaseOut", nested={"documents": list[DocumentOut]},
                         types={"missing": list[str], "history": list[dict]}, properties=("decided",))
CardAccountOut = response_model(CardAccountView, name="HrCardAccountOut",
                                doc="The card account as the HR system reads it (the whole number: this route only)")


def service_out(service, documents) -> ServiceOut:
    def kinds(names) -> list[DocumentKindOut]:
        return [DocumentKindOut(kind=k, zh=documents[k].zh, en=documents[k].en,
                                types=list(documents[k].types), max_bytes=documents[k].max_bytes)
                for k in names]

    return ServiceOut(code=service.code, zh=service.zh, en=service.en, opened_by=list(service.opened_by),
                      required=kinds(service.required),
                      optional=kinds([k for k in service.optional if k not in service.required]),
                      review_steps=list(service.review_steps), outcome=service.outcome,
                      outcome_zh=service.outcome_zh, outcome_en=service.outcome_en)
