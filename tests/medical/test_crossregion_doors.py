"""The cross-region filing doors (crossregion_api.py, crossregion.file_for / cancel_for): the
medical insurance office files (also after the fact) and cancels; the holder files for
themselves from today on and sees and cancels only their own."""

from __future__ import annotations

from datetime import date

import pytest

from tests.medical.conftest import OFFICE, TODAY, enrol, registered
from yikatong.core.actor import Actor, Channel, Role
from yikatong.core.errors import DomainError
from yikatong.medical import crossregion
from yikatong.medical.rules import CrossRegion

pytestmark = pytest.mark.db

NANJING, SHANGHAI = "320100", "310000"
API = "/api/v1/medical"


def holder(person_id: int) -> Actor:
    return Actor(user_id=f"holder-{person_id}", role=Role.HOLDER, channel=Channel.ONLINE_APP, person_id=person_id)


@pytest.fixture
def insured_id(platform) -> int:
    _, person_id = registered(platform)
    enrol(platform, person_id)
    return person_id


def test_the_office_files_after_the_fact_and_the_visit_days_before_are_covered(platform, insured_id):
    with platform.uow() as uow:
        view = crossregion.file_for(uow=uow, actor=OFFICE, request_id="desk-1", person_id=insured_id,
                                    filed_admdvs=NANJING, reason="referral", begin=date(2026, 2, 20))
        assert view.after_the_fact and view.insured_admdvs == "320402" and view.kind == "temporary"
        assert crossregion.filing_status(uow=uow, person_id=insured_id, treatment_admdvs="320106",
                                         day=date(2026, 2, 21), insured_admdvs="320402") is CrossRegion.TEMPORARY
        again = crossregion.file_for(uow=uow, actor=OFFICE, request_id="desk-1", person_id=insured_id,
                                     filed_admdvs=NANJING, reason="referral", begin=date(2026, 2, 20))
        assert again.id == view.id


def test_the_holder_files_from_today_only_and_not_for_another(platform, insured_id):
    me = holder(insured_id)
    with platform.uow() as uow:
        view = crossregion.file_for(uow=uow, actor=me, request_id="app-1", person_id=insured_id,
                                    filed_admdvs=SHANGHAI, reason="long_term_residence")
        assert (view.begin, view.end, view.kind, view.after_the_fact) == (TODAY, None, "long_term", False)
        with pytest.raises(DomainError) as refused:
            crossregion.file_for(uow=uow, actor=me, request_id="app-2", person_id=insured_id,
                                 filed_admdvs=NANJING, reason="other", begin=date(2026, 3, 1))
        assert refused.value.code == "medical_filing_invalid"
        with pytest.raises(DomainError) as refused:
            crossregion.file_for(uow=uow, actor=holder(insured_id + 1), request_id="app-3", person_id=insured_id,
                                 filed_admdvs=NANJING, reason="other")
        assert refused.value.code == "medical_not_office"
        with pytest.raises(DomainError) as refused:  # a stranger cannot see or cancel it
            crossregion.cancel_for(uow=uow, actor=holder(insured_id + 1), filing_id=view.id, reason="x")
        assert refused.value.code == "medical_filing_not_found"
        with pytest.raises(DomainError) as refused:  # nor back-date its own cancellation
            crossregion.cancel_for(uow=uow, actor=me, filing_id=view.id, reason="moved back",
                                   effective=date(2026, 3, 1))
        assert refused.value.code == "medical_filing_invalid"
        done = crossregion.cancel_for(uow=uow, actor=me, filing_id=view.id, reason="moved back")
        assert done.status == "cancelled" and done.cancelled_from == TODAY


def test_a_person_not_insured_today_cannot_be_filed(platform):
    _, person_id = registered(platform)
    with platform.uow() as uow, pytest.raises(DomainError) as refused:
        crossregion.file_for(uow=uow, actor=OFFICE, request_id="desk-2", person_id=person_id,
                             filed_admdvs=NANJING, reason="other")
    assert refused.value.code == "medical_not_enrolled"


def test_the_http_doors(client, login, insured_id):
    office = login(Role.MEDICAL_OFFICE)
    me = login(Role.HOLDER, person_id=insured_id)
    other = login(Role.HOLDER, person_id=insured_id + 1)
    body = {"person_id": insured_id, "filed_admdvs": NANJING, "reason": "posted_to_work", "begin": "2026-01-15"}
    filed = client.post(f"{API}/filings", json=body, headers={**office, "Idempotency-Key": "desk-0001"})
    assert filed.status_code == 201, filed.text
    assert filed.json()["after_the_fact"] is True and filed.json()["last_day"] is None
    mine = client.post(f"{API}/me/filings", json={"filed_admdvs": SHANGHAI, "reason": "other"},
                       headers={**me, "Idempotency-Key": "app-00001"})
    assert mine.status_code == 201, mine.text
    assert mine.json()["end"] == "2026-08-28"  # 180 days
    listed = client.get(f"{API}/me/filings", headers=me).json()
    assert [f["filed_admdvs"] for f in listed] == [NANJING, SHANGHAI]
    stranger = client.get(f"{API}/filings/{mine.json()['id']}", headers=other)
    assert stranger.status_code == 404, stranger.text
    assert client.get(f"{API}/people/{insured_id}/filings", headers=me).status_code == 403
    cancelled = client.post(f"{API}/filings/{filed.json()['id']}/cancel",
                            json={"reason": "back home", "effective": "2026-02-01"}, headers=office)
    assert cancelled.status_code == 200 and cancelled.json()["last_day"] == "2026-01-31"
