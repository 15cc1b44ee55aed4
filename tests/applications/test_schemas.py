"""The application's response is read from its view: the list masks the document numbers of
the applicant and of an agent, the inside fields never leave, the notes are derived once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from yikatong.applications import rules
from yikatong.applications.schemas import ApplicationOut, HandOverOut
from yikatong.applications.service import ApplicationView

VIEW = ApplicationView(
    id=7, kind="first", exchange_reason=None, mode="agent", channel="outlet", status="submitted",
    person_id=3, identity_review_id=None, applicant_name="周晓东", document_type="resident_id_card",
    document_number="320402199003070013",
    agent={"name": "代办人", "document_type": "resident_id_card",
           "document_number": "320402198001010011"},
    employer_batch_id=None, bank_code="ICBC", delivery="ems_cod", pickup_outlet_code=None,
    mailing_address="常州市新北区", ems_tracking_no=None, predecessor_card_no=None,
    production_batch_id=None, card_no="A00000001", pan="6222021234567890123", issue_date=None,
    decision_reason=None, submitted_by="clerk", submitted_by_user_id=1,
    submitted_at=datetime(2026, 3, 2, 8, tzinfo=UTC), warnings=("w1",), activation_code="K7Q2",
)


def test_a_listed_application_masks_both_document_numbers_and_nothing_else():
    whole = ApplicationOut.of(VIEW).model_dump()
    listed = ApplicationOut.of(VIEW, masked=True).model_dump()
    assert whole["document_number"] == "320402199003070013"
    assert whole["agent"]["document_number"] == "320402198001010011"
    assert listed["document_number"] == "320402********0013"
    assert listed["agent"] == {**VIEW.agent, "document_number": "320402********0011"}
    changed = {key for key in whole if whole[key] != listed[key]}
    assert changed == {"document_number", "agent"}
    assert VIEW.agent["document_number"] == "320402198001010011"  # the view is left as it was


def test_the_inside_fields_stay_inside_and_the_code_is_shown_at_hand_over_only():
    out = ApplicationOut.of(VIEW).model_dump()
    assert not {"pan", "submitted_by", "submitted_by_user_id", "activation_code"} & set(out)
    assert HandOverOut.of(VIEW).model_dump()["activation_code"] == "K7Q2"


def test_the_fee_and_delivery_notes_follow_the_delivery():
    mailed = ApplicationOut.of(VIEW)
    assert (mailed.fee_zh, mailed.fee_en) == (rules.FREE_OF_CHARGE["zh"], rules.FREE_OF_CHARGE["en"])
    assert (mailed.delivery_note_zh, mailed.delivery_note_en) == (
        rules.EMS_COD_NOTE["zh"], rules.EMS_COD_NOTE["en"])
    picked_up = ApplicationOut.of(dataclasses.replace(VIEW, delivery="pickup", agent=None),
                                  masked=True)
    assert picked_up.delivery_note_zh is None and picked_up.delivery_note_en is None
    assert picked_up.agent is None and picked_up.model_dump(mode="json")["warnings"] == ["w1"]
