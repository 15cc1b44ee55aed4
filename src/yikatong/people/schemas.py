"""Request and response shapes of the people API."""

from __future__ import annotations

import base64
import binascii
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr

from yikatong.api.deps import RowId
from yikatong.core.errors import InvalidInput
from yikatong.people import photo, privacy, rules
from yikatong.people.photo import PhotoReport
from yikatong.people.service import CorrectionView, PersonView, ReviewView

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


class ApplicantOut(BaseModel):
    person_id: int | None
    outcome: Literal["existing", "new", "manual_review"]
    review_id: int | None
    warnings: list[Message]


class ProvincialCardDeclarationIn(BaseModel):
    old_card_no: str = Field(max_length=40, description="the number printed on the old-generation "
                             "provincial card / 原江苏省社会保障卡卡号")


class JiangsuCardRecordOut(BaseModel):
    id: int
    person_id: int
    card_no: str
    source: str = Field(description="issued | ended | declared")
    recorded_at: datetime


class PersonOut(BaseModel):
    """One person's record, whole or masked for the reader (people/privacy.py)."""

    id: int
    name: str
    ssn: str
    gender: str
    birth_date: date | None = Field(description="absent when masked / 脱敏时不显示")
    birth_year: int
    nationality: str
    phone: str | None
    address: str | None
    person_code: str
    document_type: str | None
    has_photo: bool
    had_provincial_card: bool
    masked: bool = Field(description="name, ID number, phone and address are masked; a "
                                     "disclosure with a reason shows them whole / 已脱敏")

    @classmethod
    def of(cls, view: PersonView, *, whole: bool = True) -> PersonOut:
        shown = view if whole else privacy.masked(view)
        return cls(**{**shown.__dict__, "birth_date": view.birth_date if whole else None},
                   birth_year=view.birth_date.year, masked=not whole)


class PersonSummaryOut(BaseModel):
    """A list row: the identity number is always masked, and whatever the reader's details
    mask is masked here too."""

    id: int
    name: str
    ssn_masked: str
    gender: str
    birth_date: date | None
    birth_year: int
    person_code: str
    masked: bool

    @classmethod
    def of(cls, view: PersonView, *, whole: bool = True) -> PersonSummaryOut:
        detail = PersonOut.of(view, whole=whole)
        return cls(id=view.id, name=detail.name, ssn_masked=rules.mask_ssn(view.ssn),
                   gender=view.gender, birth_date=detail.birth_date, birth_year=detail.birth_year,
                   person_code=view.person_code, masked=detail.masked)


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


class RuleResultOut(BaseModel):
    code: str
    passed: bool
    severity: str
    measured: str
    zh: str
    en: str


class PhotoReportOut(BaseModel):
    accepted: bool
    results: list[RuleResultOut]

    @classmethod
    def of(cls, report: PhotoReport) -> PhotoReportOut:
        return cls(accepted=report.accepted,
                   results=[RuleResultOut(**r.__dict__) for r in report.results])


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


class CorrectionOut(BaseModel):
    id: int
    person_id: int
    status: str
    before: dict[str, Any]
    changes: dict[str, Any]
    reason: str
    proposed_by: str
    decided_by: str | None
    decision_reason: str | None

    @classmethod
    def of(cls, view: CorrectionView, *, full: bool = True, whole: bool = True) -> CorrectionOut:
        """One correction as it is decided on; in a list (`full=False`) the ssn is masked, and
        for a reader who sees records masked (`whole=False`) every personal field is."""
        fields = dict(view.__dict__)
        for key in ("before", "changes"):
            if not whole:
                fields[key] = privacy.masked_image(fields[key])
            elif not full:
                fields[key] = {name: rules.mask_ssn(value) if name == "ssn" else value
                               for name, value in fields[key].items()}
        return cls(**fields)


class ResolveIn(BaseModel):
    resolution: Literal["merge", "distinct"]
    reason: str = Field(min_length=1, max_length=200)
    person_id: RowId | None = Field(
        default=None, description="merge: the candidate the applicant is (default: the "
                                  "review's candidate); any other person is refused")


class ReviewOut(BaseModel):
    """Both candidates side by side; identity numbers masked unless `full` (one review)."""

    id: int
    status: str
    match_reason: str
    candidate: PersonOut | PersonSummaryOut
    applicant: dict[str, Any]
    has_applicant_photo: bool
    created_by: str
    resolved_by: str | None
    resolved_person_id: int | None
    resolution_reason: str | None
    proposed_person_id: int | None = None
    proposed_by: str | None = None
    proposal_reason: str | None = None

    @classmethod
    def of(cls, view: ReviewView, *, full: bool = False, whole: bool = True) -> ReviewOut:
        """`full` for one review (the candidate's whole row), else a list row; `whole` as the
        reader sees people's records (people/privacy.py)."""
        fields = dict(view.__dict__)
        if full:
            fields["candidate"] = PersonOut.of(view.candidate, whole=whole)
        else:
            fields["candidate"] = PersonSummaryOut.of(view.candidate, whole=whole)
        applicant = dict(view.applicant)
        if not whole:
            applicant = privacy.masked_image(applicant)
        elif not full:
            for key in ("ssn", "document_number"):
                applicant[key] = rules.mask_ssn(applicant.get(key))
        fields["applicant"] = applicant
        return cls(**fields)


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
