"""Pure rules of the people domain: identity numbers, accepted documents, ages, masking.

No I/O and no clock: today's date is passed in. The number formats and their sources are in
docs/domain-rules.md §1 (GB 11643-1999, residence permits, foreign PR cards). We do
not use python-stdnum: it rejects real numbers whose county code is younger than the holder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from yikatong.core.choices import echo
from yikatong.core.masking import mask_ssn  # noqa: F401  (where callers have looked for it)
from yikatong.people import errors, regions

# Nobody alive was born before this year: an earlier date in a number is a typo.
EARLIEST_BIRTH_YEAR = 1890

PERMIT_PREFIXES = {"810000": "hk_permit", "820000": "mo_permit", "830000": "tw_permit"}

# Warning codes with their messages (zh, en); a warning never refuses the number.
WARNINGS: dict[str, tuple[str, str]] = {
    "unknown_region_code": ("地址码不是现行或已撤销的县级行政区划代码（GB/T 2260），请核对",
                            "the address code is no current or former county code "
                            "(GB/T 2260); please check"),
    "legacy_15_digit": ("15 位旧身份证号码，已升级为 18 位", "legacy 15-digit number, upgraded "
                        "to 18 digits"),
    "foreign_pr_2017_unverified": ("2017 版永居证号码无公开校验算法，仅校验格式",
                                   "2017 PR number: no public check algorithm, format only"),
    "foreign_pr_birth_date_unreadable": ("永居证号码中的出生日期无法识别",
                                         "no birth date could be read from the PR number"),
}


@dataclass(frozen=True)
class IdNumberInfo:
    """What an identity number says about its holder."""

    # citizen | hk_permit | mo_permit | tw_permit | foreign_pr_2023 | foreign_pr_2017 | other
    kind: str
    birth_date: date | None
    gender: str | None                  # "M" | "F"
    region_code: str | None
    warnings: list[str] = field(default_factory=list)
    number: str = ""                    # normalised: upper case; legacy 15 → 18 digits
    region_name: str | None = None      # display name, when our table knows the code
    nationality: str | None = None      # 3-letter code carried by a 2017 PR number


def _invalid(reason_zh: str, reason_en: str) -> errors.InvalidIdNumber:
    return errors.InvalidIdNumber(reason_zh=reason_zh, reason_en=reason_en)


def mod11_2_check_char(digits: str) -> str:
    """ISO 7064 MOD 11-2 check character of a digit string ('X' stands for 10).

    For 17 digits this equals GB 11643's weighted sum with W_i = 2^(18-i) mod 11.
    """
    total = 0
    for digit in digits:
        total = (total + int(digit)) * 2 % 11
    value = (12 - total) % 11
    return "X" if value == 10 else str(value)


def _parse_birth(text: str, today: date | None) -> date:
    try:
        born = date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise _invalid(f"出生日期 {text} 不存在", f"birth date {text} does not exist") from None
    if born.year < EARLIEST_BIRTH_YEAR:
        raise _invalid(f"出生日期 {text} 不合理", f"birth date {text} is implausible")
    if today is not None and born > today:
        raise _invalid(f"出生日期 {text} 在未来", f"birth date {text} is in the future")
    return born


def _gender(sequence_digit: str) -> str:
    return "M" if int(sequence_digit) % 2 else "F"


def _check_18(number: str) -> None:
    expected = mod11_2_check_char(number[:17])
    if number[17] != expected:
        raise _invalid("校验码错误", "wrong check character")


def classify_id_number(number: str, *, today: date | None = None) -> IdNumberInfo:
    """Classify and fully check an identity number; raise InvalidIdNumber if it is malformed.

    Citizen numbers (first digit 1–8), HK/Macao/Taiwan residence permits (810000/820000/
    830000), 2023 foreign PR numbers (first digit 9) and legacy 15-digit citizen numbers get
    their birth date and check character verified; 2017 PR numbers (3 letters + 12 digits)
    their format. Any other plain alphanumeric string (passport, travel permit) is "other".
    With `today`, a birth date after it is refused.
    """
    # Digits are [0-9], never \d: that also matches other scripts' digits, and the same number
    # written in two scripts would be two numbers.
    text = re.sub(r"\s", "", number or "").upper()
    if not text:
        raise _invalid("号码为空", "the number is empty")
    if re.fullmatch(r"[0-9]{17}[0-9X]", text):
        return _classify_18(text, today)
    if re.fullmatch(r"[0-9]{15}", text):
        return _classify_legacy_15(text, today)
    if re.fullmatch(r"[A-Z]{3}[0-9]{12}", text):
        return IdNumberInfo(kind="foreign_pr_2017", birth_date=None, gender=None,
                            region_code=None, warnings=["foreign_pr_2017_unverified"],
                            number=text, nationality=text[:3])
    if re.fullmatch(r"[0-9]{13,19}X?", text):
        raise _invalid(f"位数错误（{len(text)} 位）", f"wrong length ({len(text)} characters)")
    if re.fullmatch(r"[A-Z0-9]{5,20}", text):
        return IdNumberInfo(kind="other", birth_date=None, gender=None, region_code=None,
                            number=text)
    raise _invalid("含有不允许的字符或长度不符", "unexpected characters or length")


def _classify_18(text: str, today: date | None) -> IdNumberInfo:
    _check_18(text)
    prefix = text[:6]
    if text[0] == "9":
        return _classify_foreign_pr_2023(text, today)
    if prefix in PERMIT_PREFIXES:
        born = _parse_birth(text[6:14], today)
        return IdNumberInfo(kind=PERMIT_PREFIXES[prefix], birth_date=born,
                            gender=_gender(text[16]), region_code=prefix, number=text,
                            region_name=regions.region_name(prefix))
    if text[:2] in ("81", "82", "83"):
        raise _invalid("港澳台居民居住证号码应以 810000、820000 或 830000 开头",
                       "residence permit numbers start with 810000, 820000 or 830000")
    if not regions.is_known_province(prefix):
        raise _invalid(f"省级地址码 {prefix[:2]} 不存在", f"no province has code {prefix[:2]}")
    return _citizen(text, today)


def _citizen(text: str, today: date | None, warnings: tuple[str, ...] = ()) -> IdNumberInfo:
    prefix = text[:6]
    name = regions.region_name(prefix)
    found = list(warnings) + ([] if name else ["unknown_region_code"])
    return IdNumberInfo(kind="citizen", birth_date=_parse_birth(text[6:14], today),
                        gender=_gender(text[16]), region_code=prefix, warnings=found,
                        number=text, region_name=name or regions.partial_region_name(prefix))


def _classify_foreign_pr_2023(text: str, today: date | None) -> IdNumberInfo:
    # Layout (low confidence, domain-rules §1.3): 9 + province(2) + nationality(3) +
    # YYYYMMDD + sequence(3) + check. Only the check character is certain, so an unreadable
    # birth date is a warning and the agreement check is then skipped.
    try:
        born = _parse_birth(text[6:14], today)
    except errors.InvalidIdNumber:
        return IdNumberInfo(kind="foreign_pr_2023", birth_date=None, gender=None,
                            region_code=None, warnings=["foreign_pr_birth_date_unreadable"],
                            number=text)
    return IdNumberInfo(kind="foreign_pr_2023", birth_date=born, gender=_gender(text[16]),
                        region_code=None, number=text)


def upgrade_legacy_15(number: str) -> str:
    """The 18-digit form of a legacy 15-digit number: insert '19' before YY, add the check."""
    if not re.fullmatch(r"[0-9]{15}", number):
        raise _invalid("不是 15 位旧号码", "not a legacy 15-digit number")
    body = number[:6] + "19" + number[6:]
    return body + mod11_2_check_char(body)


def _classify_legacy_15(text: str, today: date | None) -> IdNumberInfo:
    if not regions.is_known_province(text):
        raise _invalid(f"省级地址码 {text[:2]} 不存在", f"no province has code {text[:2]}")
    return _citizen(upgrade_legacy_15(text), today, warnings=("legacy_15_digit",))


def age_on(birth_date: date, day: date) -> int:
    """Completed years on `day` (someone born on 29 February turns a year older on 1 March)."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - before_birthday


# --- identity documents accepted for an application (seed 四.3) -------------------------


class DocumentType(StrEnum):
    RESIDENT_ID_CARD = "resident_id_card"            # 居民身份证
    HOUSEHOLD_REGISTER = "household_register"        # 户口簿
    TEMPORARY_ID_CARD = "temporary_id_card"          # 临时身份证
    PASSPORT = "passport"                            # 护照
    FOREIGN_PR_CARD = "foreign_pr_card"              # 外国人永久居留身份证
    HK_MACAO_TRAVEL_PERMIT = "hk_macao_travel_permit"  # 港澳居民来往内地通行证
    TAIWAN_TRAVEL_PERMIT = "taiwan_travel_permit"    # 台湾居民来往大陆通行证
    HMT_RESIDENCE_PERMIT = "hmt_residence_permit"    # 港澳台居民居住证


DOCUMENT_NAMES: dict[DocumentType, tuple[str, str]] = {
    DocumentType.RESIDENT_ID_CARD: ("居民身份证", "resident ID card"),
    DocumentType.HOUSEHOLD_REGISTER: ("户口簿", "household register"),
    DocumentType.TEMPORARY_ID_CARD: ("临时身份证", "temporary ID card"),
    DocumentType.PASSPORT: ("护照", "passport"),
    DocumentType.FOREIGN_PR_CARD: ("外国人永久居留身份证", "foreign permanent-residence ID"),
    DocumentType.HK_MACAO_TRAVEL_PERMIT: ("港澳居民来往内地通行证", "HK/Macao travel permit"),
    DocumentType.TAIWAN_TRAVEL_PERMIT: ("台湾居民来往大陆通行证", "Taiwan travel permit"),
    DocumentType.HMT_RESIDENCE_PERMIT: ("港澳台居民居住证", "HK/Macao/Taiwan residence permit"),
}

# Nationality is an ISO 3166-1 alpha-3 code; like GB/T 2659, residents of Hong Kong, Macao
# and Taiwan carry HKG / MAC / TWN so the documents reserved for them can be checked.
CHINA = "CHN"
HMT = {"HKG": ("香港", "Hong Kong"), "MAC": ("澳门", "Macao"), "TWN": ("台湾", "Taiwan")}
PERMIT_RESIDENCY = {"hk_permit": "HKG", "mo_permit": "MAC", "tw_permit": "TWN"}
CITIZEN_DOCUMENTS = {DocumentType.RESIDENT_ID_CARD, DocumentType.HOUSEHOLD_REGISTER,
                     DocumentType.TEMPORARY_ID_CARD}
VALIDITY_REQUIRED = {DocumentType.RESIDENT_ID_CARD, DocumentType.TEMPORARY_ID_CARD}
HOUSEHOLD_REGISTER_AGE_LIMIT = 16  # "不满十六周岁"
PHOTO_MIN_AGE = 7                  # "满 7 周岁人员要上传照片"


@dataclass(frozen=True)
class DocumentCheck:
    """An accepted document: its normalised number and the ssn it gives (None: assign one)."""

    document_type: DocumentType
    number: str
    ssn: str | None
    id_info: IdNumberInfo
    warnings: list[str] = field(default_factory=list)


def parse_document_type(value: str) -> DocumentType:
    try:
        return DocumentType(value)
    except ValueError:
        raise errors.UnknownDocumentType(document_type=echo(value), allowed=list(DocumentType)) from None


# The number printed on an old-generation provincial card: its format is not published, so
# only letters and digits of a plausible length (the platform's own card numbers are 9).
_OLD_CARD_NO = re.compile(r"[A-Z0-9]{6,32}", re.ASCII)


def check_old_card_no(card_no: str) -> str:
    """The old card's number, upper-cased and without spaces, or InvalidPersonData."""
    number = re.sub(r"\s+", "", card_no or "").upper()
    if not _OLD_CARD_NO.fullmatch(number):
        raise errors.InvalidPersonData(reason_zh="原社会保障卡卡号应为 6 至 32 位字母或数字",
                                       reason_en="the old card's number is 6 to 32 letters or digits")
    return number


def check_nationality(nationality: str) -> str:
    code = (nationality or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise errors.InvalidPersonData(reason_zh="国籍须为三位字母代码（如 CHN）",
                                       reason_en="nationality must be a 3-letter code (e.g. CHN)")
    return code


def check_document(
    *, document_type: str, number: str, nationality: str, birth_date: date, gender: str,
    valid_until: date | None, as_of: date, holds_id_card: bool = False,
) -> DocumentCheck:
    """Accept the document for this applicant or raise the refusal that applies (seed 四.3)."""
    kind = parse_document_type(document_type)
    nationality = check_nationality(nationality)
    if birth_date > as_of:
        raise errors.InvalidPersonData(reason_zh="出生日期在未来", reason_en="birth date in the future")
    _check_validity(kind, valid_until, as_of)
    info = classify_id_number(number, today=as_of)
    if kind in CITIZEN_DOCUMENTS:
        ssn = _citizen_document(kind, info, nationality, birth_date, as_of, holds_id_card)
    elif kind in (DocumentType.PASSPORT, DocumentType.FOREIGN_PR_CARD):
        ssn = _foreigner_document(kind, info, nationality)
    else:
        ssn = _hmt_document(kind, info, nationality)
    check_agreement(info, birth_date=birth_date, gender=gender)
    return DocumentCheck(document_type=kind, number=info.number, ssn=ssn, id_info=info,
                         warnings=list(info.warnings))


def _check_validity(kind: DocumentType, valid_until: date | None, as_of: date) -> None:
    if valid_until is None:
        if kind in VALIDITY_REQUIRED:
            raise errors.DocumentValidityMissing()
        return
    if valid_until < as_of:
        raise errors.DocumentExpired(valid_until=valid_until.isoformat())


def _kind_mismatch(kind: DocumentType) -> errors.DocumentNumberKindMismatch:
    zh, en = DOCUMENT_NAMES[kind]
    return errors.DocumentNumberKindMismatch(expected_zh=zh, expected_en=en)


def _citizen_document(kind, info, nationality, birth_date, as_of, holds_id_card) -> str:
    if nationality != CHINA:
        raise errors.DocumentForCitizensOnly()
    if info.kind != "citizen":
        raise _kind_mismatch(kind)
    if kind is DocumentType.HOUSEHOLD_REGISTER:
        age = age_on(birth_date, as_of)
        if age >= HOUSEHOLD_REGISTER_AGE_LIMIT:
            raise errors.HouseholdRegisterTooOld(age=age)
        if holds_id_card:
            raise errors.HouseholdRegisterWithIdCard()
    return info.number


def _foreigner_document(kind, info, nationality) -> str | None:
    if nationality == CHINA or nationality in HMT:
        raise errors.DocumentForForeignersOnly()
    if kind is DocumentType.FOREIGN_PR_CARD:
        if info.kind not in ("foreign_pr_2023", "foreign_pr_2017"):
            raise _kind_mismatch(kind)
        if info.nationality is not None and info.nationality != nationality:
            raise errors.IdNumberMismatch(field_zh="国籍", field_en="nationality")
        return info.number  # the PR number is the holder's social security number
    if info.kind != "other":
        raise _kind_mismatch(kind)
    return None  # passport only: the agency assigns a social security number


def _hmt_document(kind, info, nationality) -> str | None:
    if kind is DocumentType.HMT_RESIDENCE_PERMIT:
        allowed = set(HMT)
    elif kind is DocumentType.HK_MACAO_TRAVEL_PERMIT:
        allowed = {"HKG", "MAC"}
    else:
        allowed = {"TWN"}
    if nationality not in allowed:
        names = [HMT[code] for code in sorted(allowed)]
        raise errors.DocumentForResidentsOnly(region_zh="、".join(n[0] for n in names),
                                              region_en=" / ".join(n[1] for n in names))
    if kind is DocumentType.HMT_RESIDENCE_PERMIT:
        if PERMIT_RESIDENCY.get(info.kind) != nationality:
            raise _kind_mismatch(kind)
        return info.number
    pattern = {"HKG": r"H[0-9]{8}([0-9]{2})?", "MAC": r"M[0-9]{8}([0-9]{2})?",
               "TWN": r"[0-9]{8}([0-9]{2})?"}
    if not re.fullmatch(pattern[nationality], info.number):
        raise _kind_mismatch(kind)
    return None  # travel permit only: the agency assigns a social security number


def check_agreement(info: IdNumberInfo, *, birth_date: date, gender: str) -> None:
    """Birth date and gender stated for a person must agree with what the number says."""
    if gender not in ("M", "F"):
        raise errors.InvalidPersonData(reason_zh="性别须为 M 或 F", reason_en="gender must be M or F")
    if info.birth_date is not None and info.birth_date != birth_date:
        raise errors.IdNumberMismatch(field_zh="出生日期", field_en="birth date")
    if info.gender is not None and info.gender != gender:
        raise errors.IdNumberMismatch(field_zh="性别", field_en="gender")


def check_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned or len(cleaned) > 60:
        raise errors.InvalidPersonData(reason_zh="姓名不能为空且不超过 60 个字符",
                                       reason_en="name must be 1–60 characters")
    return cleaned


def photo_required(birth_date: date, as_of: date) -> bool:
    return age_on(birth_date, as_of) >= PHOTO_MIN_AGE


def assigned_ssn(prefix: str, sequence: int, max_length: int) -> str:
    """The agency-assigned social security number of a person without a citizen/PR number."""
    width = max_length - len(prefix)
    if width < 1 or sequence >= 10**width:
        raise ValueError("assigned ssn format cannot hold this sequence")
    return f"{prefix}{sequence:0{width}d}"


def person_code(region: str, sequence: int) -> str:
    """人员识别号: issuing region (6 digits) + sequence (9 digits) + MOD 11-2 check = 16 chars."""
    body = f"{region}{sequence:09d}"
    return body + mod11_2_check_char(body)
