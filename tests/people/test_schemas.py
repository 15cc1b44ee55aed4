"""A person's responses are read from the view as the reader sees it (people/privacy.py): the
masked and whole answers differ in the personal fields only."""

from __future__ import annotations

from datetime import date

import pytest

from yikatong.core.masking import mask_name, mask_ssn
from yikatong.people.schemas import PersonOut, PersonSummaryOut
from yikatong.people.service import PersonView

PEOPLE = [
    PersonView(id=1, name="欧阳娜娜", ssn="320402199003070013", gender="F",
               birth_date=date(1990, 3, 7), nationality="CHN", phone="13812345678",
               address="江苏省常州市新北区太湖路1号", person_code="P1",
               document_type="resident_id_card", has_photo=True, had_provincial_card=False),
    PersonView(id=2, name="张三", ssn="H1234567", gender="M", birth_date=date(1980, 1, 1),
               nationality="HKG", phone=None, address=None, person_code="P2", document_type=None,
               has_photo=False, had_provincial_card=True),
]


@pytest.mark.parametrize("view", PEOPLE, ids=lambda view: view.person_code)
def test_a_list_row_masks_the_number_alike_for_every_reader(view):
    whole = PersonSummaryOut.of(view).model_dump()
    masked = PersonSummaryOut.of(view, whole=False).model_dump()
    assert whole["ssn_masked"] == masked["ssn_masked"] == mask_ssn(view.ssn) != view.ssn
    assert (whole["name"], masked["name"]) == (view.name, mask_name(view.name))
    assert (whole["birth_date"], masked["birth_date"]) == (view.birth_date, None)
    assert whole["birth_year"] == masked["birth_year"] == view.birth_date.year
    assert (whole["masked"], masked["masked"]) == (False, True)
    assert {key for key in whole if whole[key] != masked[key]} == {"name", "birth_date", "masked"}


@pytest.mark.parametrize("view", PEOPLE, ids=lambda view: view.person_code)
def test_the_details_are_whole_or_masked_in_the_personal_fields_only(view):
    whole = PersonOut.of(view).model_dump()
    masked = PersonOut.of(view, whole=False).model_dump()
    assert whole == {**view.__dict__, "birth_year": view.birth_date.year, "masked": False}
    personal = {"name", "ssn", "birth_date", "masked"} | {
        key for key in ("phone", "address") if getattr(view, key)}
    assert {key for key in whole if whole[key] != masked[key]} == personal
    assert masked["ssn"] == mask_ssn(view.ssn) and masked["birth_year"] == view.birth_date.year
