"""Accepted identity documents (seed 四.3), one row per rule."""

from __future__ import annotations

from datetime import date

import pytest

from yikatong.core.errors import DomainError
from yikatong.people import errors
from yikatong.people.rules import check_document, photo_required
from yikatong.people.samples import make_citizen_ssn, make_foreign_pr_2023

AS_OF = date(2026, 3, 2)
ADULT = date(1990, 3, 7)
FIFTEEN = date(2010, 6, 1)
SEVENTEEN = date(2008, 6, 1)
VALID = date(2030, 1, 1)


def doc(document_type, number, *, nationality="CHN", birth=ADULT, gender="M",
        valid_until=VALID, holds_id_card=False):
    return check_document(document_type=document_type, number=number, nationality=nationality,
                          birth_date=birth, gender=gender, valid_until=valid_until, as_of=AS_OF,
                          holds_id_card=holds_id_card)


def citizen(birth=ADULT, gender="M"):
    return make_citizen_ssn("320402", birth, gender, seq=11 if gender == "M" else 12)


def test_resident_id_card_within_validity_gives_the_ssn():
    accepted = doc("resident_id_card", citizen())
    assert accepted.ssn == citizen() and accepted.document_type == "resident_id_card"


def test_validity_ending_today_is_still_valid():
    assert doc("resident_id_card", citizen(), valid_until=AS_OF).ssn == citizen()


ACCEPTED = [
    ("household register, 15 without ID card",
     dict(document_type="household_register", number=citizen(FIFTEEN), birth=FIFTEEN,
          valid_until=None)),
    ("temporary ID card", dict(document_type="temporary_id_card", number=citizen())),
    ("passport, foreigner", dict(document_type="passport", number="E12345678",
                                 nationality="USA", valid_until=None)),
    ("PR card 2023", dict(document_type="foreign_pr_card", nationality="USA",
                          number=make_foreign_pr_2023(ADULT, "M", seq=1))),
    ("PR card 2017", dict(document_type="foreign_pr_card", nationality="USA",
                          number="USA123456789012")),
    ("HK travel permit", dict(document_type="hk_macao_travel_permit", number="H12345678",
                              nationality="HKG")),
    ("Macao travel permit", dict(document_type="hk_macao_travel_permit", number="M12345678",
                                 nationality="MAC")),
    ("Taiwan travel permit", dict(document_type="taiwan_travel_permit", number="12345678",
                                  nationality="TWN")),
    ("HK residence permit", dict(document_type="hmt_residence_permit", nationality="HKG",
                                 number=make_citizen_ssn("810000", ADULT, "M", seq=1))),
    ("Taiwan residence permit", dict(document_type="hmt_residence_permit", nationality="TWN",
                                     number="830000198808080025", birth=date(1988, 8, 8),
                                     gender="F")),
]


@pytest.mark.parametrize(("case", "fields"), ACCEPTED, ids=[c for c, _ in ACCEPTED])
def test_documents_the_seed_accepts(case, fields):
    number = fields.pop("number")
    accepted = doc(fields.pop("document_type"), number, **fields)
    assert accepted.number == number.upper()
    # Only passports and travel permits leave the ssn for the agency to assign.
    assert (accepted.ssn is None) == (accepted.document_type in (
        "passport", "hk_macao_travel_permit", "taiwan_travel_permit"))


REFUSED = [
    ("household register at 17", errors.HouseholdRegisterTooOld,
     dict(document_type="household_register", number=citizen(SEVENTEEN), birth=SEVENTEEN)),
    ("household register with an ID card", errors.HouseholdRegisterWithIdCard,
     dict(document_type="household_register", number=citizen(FIFTEEN), birth=FIFTEEN,
          holds_id_card=True)),
    ("passport of a Chinese citizen", errors.DocumentForForeignersOnly,
     dict(document_type="passport", number="E12345678")),
    ("passport of a Hong Kong resident", errors.DocumentForForeignersOnly,
     dict(document_type="passport", number="K12345678", nationality="HKG")),
    ("PR card of a Chinese citizen", errors.DocumentForForeignersOnly,
     dict(document_type="foreign_pr_card", number="USA123456789012")),
    ("expired ID card", errors.DocumentExpired,
     dict(document_type="resident_id_card", number=citizen(), valid_until=date(2026, 3, 1))),
    ("expired temporary ID", errors.DocumentExpired,
     dict(document_type="temporary_id_card", number=citizen(), valid_until=date(2025, 1, 1))),
    ("ID card without validity", errors.DocumentValidityMissing,
     dict(document_type="resident_id_card", number=citizen(), valid_until=None)),
    ("HK permit of a mainland citizen", errors.DocumentForResidentsOnly,
     dict(document_type="hk_macao_travel_permit", number="H12345678")),
    ("HK permit of a Taiwan resident", errors.DocumentForResidentsOnly,
     dict(document_type="hk_macao_travel_permit", number="H12345678", nationality="TWN")),
    ("Taiwan permit of a HK resident", errors.DocumentForResidentsOnly,
     dict(document_type="taiwan_travel_permit", number="12345678", nationality="HKG")),
    ("residence permit of a foreigner", errors.DocumentForResidentsOnly,
     dict(document_type="hmt_residence_permit", number="810000199501010015",
          nationality="USA", birth=date(1995, 1, 1))),
    ("HK residence permit of a Macao resident", errors.DocumentNumberKindMismatch,
     dict(document_type="hmt_residence_permit", number="810000199501010015",
          nationality="MAC", birth=date(1995, 1, 1))),
    ("Macao travel permit number for a HK resident", errors.DocumentNumberKindMismatch,
     dict(document_type="hk_macao_travel_permit", number="M12345678", nationality="HKG")),
    ("ID card of a foreigner", errors.DocumentForCitizensOnly,
     dict(document_type="resident_id_card", number=citizen(), nationality="USA")),
    ("ID card with a passport number", errors.DocumentNumberKindMismatch,
     dict(document_type="resident_id_card", number="E12345678")),
    ("PR card with a citizen number", errors.DocumentNumberKindMismatch,
     dict(document_type="foreign_pr_card", number=citizen(), nationality="USA")),
    ("birth date disagrees", errors.IdNumberMismatch,
     dict(document_type="resident_id_card", number=citizen(), birth=date(1990, 3, 8))),
    ("gender disagrees", errors.IdNumberMismatch,
     dict(document_type="resident_id_card", number=citizen(), gender="F")),
    ("2017 PR number of another nationality", errors.IdNumberMismatch,
     dict(document_type="foreign_pr_card", number="USA123456789012", nationality="GBR")),
    ("unknown document type", errors.UnknownDocumentType,
     dict(document_type="driving_licence", number="320402199003070013")),
    ("malformed ID number", errors.InvalidIdNumber,
     dict(document_type="resident_id_card", number="320402199003070014")),
    ("birth date in the future", errors.InvalidPersonData,
     dict(document_type="passport", number="E12345678", nationality="USA",
          birth=date(2027, 1, 1))),
    ("nationality not a 3-letter code", errors.InvalidPersonData,
     dict(document_type="passport", number="E12345678", nationality="U5")),
]


@pytest.mark.parametrize(("case", "error", "fields"), REFUSED, ids=[c for c, _, _ in REFUSED])
def test_documents_the_seed_refuses(case, error, fields):
    number = fields.pop("number")
    with pytest.raises(error) as caught:
        doc(fields.pop("document_type"), number, **fields)
    assert caught.value.http_status == 422
    assert caught.value.message_zh and caught.value.message_en


def test_each_refusal_has_its_own_code():
    refusals = {error for _, error, _ in REFUSED}
    codes = {error.code for error in refusals}
    assert len(codes) == len(refusals)
    assert all(issubclass(error, DomainError) for error in refusals)


def test_photo_needed_from_the_seventh_birthday():
    assert not photo_required(date(2019, 3, 3), AS_OF)   # six, seven tomorrow
    assert photo_required(date(2019, 3, 2), AS_OF)       # seven today
