"""Request and response shapes of the people API."""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Annotated, Literal, Self

from pydantic import BaseModel, Field, SecretStr

from yikatong.api.deps import RowId
from yikatong.core.errors import InvalidInput
from yikatong.core.response_models import ViewModel, response_model
from yikatong.people import photo, privacy, rules
from yikatong.people.photo import PhotoReport, RuleResult
from yikatong.people.service import (
    ApplicantOutcome,
    CorrectionView,
    JiangsuCardRecordView,
    PersonView,
    ReviewView,
)

__all__ = ["PhotoBase64", "RowId"]  # the people and applications doors take row ids from here

# The longest base64 text of a photo the rules could accept (photo.HARD_MAX_BYTES): anything
# longer is refused by the schema before it is decoded.
MAX_PHOTO_BASE64 = 4 * -(-photo.HARD_MAX_BYTES // 3)
PhotoBase64 = Annotated[str, Field(max_length=MAX_PHOTO_BASE64,
                                   description=f"the JPEG, base64 (at most {MAX_PHOTO_BASE64} characters)")]


class Message(BaseModel):
    code: str
    zh: str
    en: str


def decode_photo(text: str | None) -> bytes | None:
    """The JPEG bytes of a `photo_jpeg_base64` field (None stays None); InvalidInput if the
    text is not base64. The photo rules are checked later, all at once."""
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(reason_zh="照片须为 base64 编码",
                           reason_en="the photo must be base64") from None


def warning_messages(codes: list[str]) -> list[Message]:
    """ID-number and photo warning codes with their zh + en text."""
    texts = {**photo.RULES, **rules.WARNINGS}
    return [Message(code=code, zh=texts[code][0], en=texts[code][1]) for code in codes]


class RegisterIn(BaseModel):
    name: str = Field(max_length=60, examples=["周晓东"])
    document_type: str = Field(examples=["resident_id_card"], description=(
        "resident_id_card | household_register | temporary_id_card | passport | "
        "foreign_pr_card | hk_macao_travel_permit | taiwan_travel_permit | "
        "hmt_residence_permit"))
    document_number: str = Field(max_length=32, examples=["320402199003070013"])
    document_valid_until: date | None = Field(
        default=None, description="required for ID cards; 9999-12-31 for a long-term card")
    holds_id_card: bool = Field(default=False, description="for a household register: the "
                                "applicant already has a resident ID card")
    gender: str = Field(examples=["M"], description="M | F")
    birth_date: date
    nationality: str = Field(default="CHN", description="ISO 3166-1 alpha-3; HKG/MAC/TWN "
                             "for residents of Hong Kong, Macao, Taiwan")
    phone: str | None = Field(default=None, max_length=32)
    address: str | None = Field(default=None, max_length=200)
    photo_jpeg_base64: PhotoBase64 | None = None


# The warnings' codes with their zh + en text (warning_messages).
ApplicantOut = response_model(ApplicantOutcome, name="ApplicantOut",
                              types={"warnings": list[Message]})


class ProvincialCardDeclarationIn(BaseModel):
    old_card_no: str = Field(max_length=40, description="the number printed on the old-generation "
                             "provincial card / 原江苏省社会保障卡卡号")


JiangsuCardRecordOut = response_model(JiangsuCardRecordView, name="JiangsuCardRecordOut",
                                      exclude=("recorded_by",))


class _PersonShown(ViewModel):
    @classmethod
    def of(cls, view: PersonView, *, whole: bool = True) -> Self:
        """The person as the reader sees it: whole, or masked with the birth year only."""
        shown = view if whole else privacy.masked(view)
        return cls.from_view(shown, birth_date=view.birth_date if whole else None,
                             masked=not whole)


PersonOut = response_model(
    PersonView, name="PersonOut", base=_PersonShown, properties=("birth_year",),
    doc="One person's record, whole or masked for the reader (people/privacy.py).",
    types={"birth_date": Annotated[date | None, Field(description="absent when masked / 脱敏时不显示")]},
    extra={"masked": Annotated[bool, Field(description=(
        "name, ID number, phone and address are masked; a disclosure with a reason shows them "
        "whole / 已脱敏"))]})
# ssn_masked reads the shown view: masking a masked number changes nothing.
PersonSummaryOut = response_model(
    PersonView, name="PersonSummaryOut", base=_PersonShown,
    exclude=("ssn", "nationality", "phone", "address", "document_type", "has_photo",
             "had_provincial_card"),
    properties=("ssn_masked", "birth_year"), types={"birth_date": date | None},
    extra={"masked": bool},
    doc="A list row: the identity number is always masked, and whatever the reader's details\n"
        "mask is masked here too.")


class DisclosureIn(BaseModel):
    reason_code: privacy.DisclosureReason
    note: str = Field(min_length=4, max_length=200,
                      description="what makes the reason true here (e.g. the call's ticket, the "
                                  "document checked, the official reference) / 具体说明")


class DisclosureOut(BaseModel):
    person: PersonOut
    photo_base64: str | None = Field(description="the JPEG, base64, if one is on file")
    reason_code: privacy.DisclosureReason


class PersonPageOut(BaseModel):
    total: int
    items: list[PersonSummaryOut]


RuleResultOut = response_model(RuleResult, name="RuleResultOut")


class PhotoReportOut(BaseModel):
    accepted: bool
    results: list[RuleResultOut]

    @classmethod
    def of(cls, report: PhotoReport) -> PhotoReportOut:
        return cls(accepted=report.accepted,
                   results=[RuleResultOut.model_validate(result) for result in report.results])


class IdCheckIn(BaseModel):
    number: str = Field(max_length=40)


class IdCheckOut(BaseModel):
    kind: str
    number: str
    number_masked: str
    birth_date: date | None
    gender: str | None
    region_code: str | None
    region_name: str | None
    warnings: list[Message]


class CorrectionChanges(BaseModel):
    name: str | None = None
    ssn: str | None = None
    birth_date: date | None = None
    gender: str | None = None


class CorrectionIn(BaseModel):
    changes: CorrectionChanges
    reason: str = Field(min_length=1, max_length=200)


class DecisionIn(BaseModel):
    reason: str | None = Field(default=None, max_length=200)


class _CorrectionShown(ViewModel):
    @classmethod
    def of(cls, view: CorrectionView, *, full: bool = True, whole: bool = True) -> Self:
        """One correction as it is decided on; in a list (`full=False`) the ssn is masked, and
        for a reader who sees records masked (`whole=False`) every personal field is."""
        images = {}
        for key in ("before", "changes"):
            image = getattr(view, key)
            if not whole:
                image = privacy.masked_image(image)
            elif not full:
                image = {name: rules.mask_ssn(value) if name == "ssn" else value
                         for name, value in image.items()}
            images[key] = image
        return cls.from_view(view, **images)


CorrectionOut = response_model(CorrectionView, name="CorrectionOut", base=_CorrectionShown)


class ResolveIn(BaseModel):
    resolution: Literal["merge", "distinct"]
    reason: str = Field(min_length=1, max_length=200)
    person_id: RowId | None = Field(
        default=None, description="merge: the candidate the applicant is (default: the "
                                  "review's candidate); any other person is refused")


class _ReviewShown(ViewModel):
    @classmethod
    def of(cls, view: ReviewView, *, full: bool = False, whole: bool = True) -> Self:
        """`full` for one review (the candidate's whole row), else a list row; `whole` as the
        reader sees people's records (people/privacy.py)."""
        candidate = (PersonOut if full else PersonSummaryOut).of(view.candidate, whole=whole)
        applicant = dict(view.applicant)
        if not whole:
            applicant = privacy.masked_image(applicant)
        elif not full:
            for key in ("ssn", "document_number"):
                applicant[key] = rules.mask_ssn(applicant.get(key))
        return cls.from_view(view, candidate=candidate, applicant=applicant)


ReviewOut = response_model(
    ReviewView, name="ReviewOut", base=_ReviewShown,
    nested={"candidate": PersonOut | PersonSummaryOut},
    doc="Both candidates side by side; identity numbers masked unless `full` (one review).")


class PhoneChangeIn(BaseModel):
    phone: str = Field(min_length=11, max_length=20, description="the new mobile number / 新手机号")


class OwnPhoneChangeIn(PhoneChangeIn):
    code: str = Field(min_length=1, max_length=12, description="the code texted to the old number / 原手机号收到的验证码")
    pin: SecretStr = Field(min_length=4, max_length=12,
                           description="the card's PIN / 卡片密码")


class PhoneChangedOut(BaseModel):
    person_id: int
    phone_masked: str

    @classmethod
    def of(cls, view) -> PhoneChangedOut:
        from yikatong.notices.rules import mask_phone

        return cls(person_id=view.id, phone_masked=mask_phone(view.phone))


class CodeSentOut(BaseModel):
    sent_to: str  # the masked phone number
    note_zh: str = "验证码已发送，10 分钟内有效"
    note_en: str = "A code valid for 10 minutes was texted"
