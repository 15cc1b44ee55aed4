"""The card centre's pages through the ASGI app: the dashboards with their charts and tables,
the audit trail's search, paging and verification, and who may open them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.audit.helpers import write
from tests.centre.seed import add_application, add_card, add_loss
from tests.pages.conftest import form_token
from yikatong.audit.models import AuditRecord, AuditVerification
from yikatong.core.actor import Role

pytestmark = pytest.mark.db


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cell(page: str, table: str, row: str, key: str) -> str:
    """The text of one cell of a table on the page (row by its data-day/data-key)."""
    body = page.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    line = re.search(rf'<tr data-(?:day|key)="{re.escape(row)}">(.*?)</tr>', body, re.S).group(1)
    return re.search(rf'<td class="num" data-key="{re.escape(key)}">([^<]*)</td>', line).group(1)


def test_the_dashboards_show_charts_and_their_numbers(platform, signed_in):
    with platform.uow() as uow:
        add_application(uow, "submitted", at("2026-03-01T16:30:00"))  # 3-02 Beijing
        add_application(uow, "submitted", at("2026-03-02T00:30:00"))
        add_application(uow, "rejected", at("2026-02-28T03:00:00"))
        card = add_card(uow, "in_use", at("2026-03-01T03:00:00"))
        add_loss(uow, card, "temporary_loss", "phone_12333", at("2026-03-01T05:00:00"))
        uow.commit()
    admin = signed_in(Role.ADMIN)
    page = admin.get("/centre")
    assert page.status_code == 200
    assert page.text.count('<svg xmlns="http://www.w3.org/2000/svg"') == 6
    assert "<script" not in page.text.split("<body", 1)[1].replace('<script src="/static/', "")
    assert cell(page.text, "t-applications", "2026-03-02", "submitted") == "2"
    assert cell(page.text, "t-applications", "2026-02-28", "rejected") == "1"
    assert cell(page.text, "t-applications", "2026-03-02", "total") == "2"
    assert cell(page.text, "t-cards", "2026-03-01", "in_use") == "1"
    assert 'data-key="phone_12333/temporary_loss"' in page.text and "12333 电话" in page.text
    assert "已提交" in page.text  # the state's own words, in Chinese first


def test_the_dashboards_in_english_with_another_period(platform, signed_in):
    admin = signed_in(Role.ADMIN)
    admin.get("/lang/en")
    page = admin.get("/centre?days=7")
    assert page.status_code == 200 and "Card centre dashboards" in page.text
    assert page.text.count("<tr data-day=") == 14  # 7 days in each of the two by-day tables
    assert "No data in this period" in page.text
    for odd in ("5", "abc", "-7"):  # not a choice: the default period
        page = admin.get(f"/centre?days={odd}")
        assert page.status_code == 200 and page.text.count("<tr data-day=") == 28


@pytest.mark.parametrize("role", [Role.HOLDER, Role.SS_OUTLET, Role.PHONE_AGENT])
def test_only_the_card_centre_opens_them(signed_in, role):
    client = signed_in(role)
    assert client.get("/centre").status_code == 403
    assert client.get("/centre/audit").status_code == 403


def test_the_audit_search_finds_a_chain_and_pages_it(platform, signed_in):
    write(platform, "CARD00001", *[f"s{i}" for i in range(55)])
    write(platform, "CARD00002", "other")
    admin = signed_in(Role.ADMIN)
    page = admin.get("/centre/audit?entity_type=card&entity_id=CARD00001")
    assert page.status_code == 200
    assert page.text.count("<tr data-id=") == 50 and "CARD00002" not in page.text
    assert "card:CARD00001" in page.text and 'rel="next"' in page.text
    second = admin.get("/centre/audit?entity_type=card&entity_id=CARD00001&page=2")
    assert second.text.count("<tr data-id=") == 5 and 'rel="prev"' in second.text
    by_action = admin.get("/centre/audit?action=card.change&actor_id=nobody")
    assert "<tr data-id=" not in by_action.text


def test_the_audit_search_by_days_and_a_bad_day(platform, signed_in, clock):
    write(platform, "CARD00003", "a")
    admin = signed_in(Role.ADMIN)
    today = admin.get("/centre/audit?entity_id=CARD00003&since=2026-03-02&until=2026-03-02")
    assert today.text.count("<tr data-id=") == 1
    before = admin.get("/centre/audit?entity_id=CARD00003&until=2026-03-01")
    assert "<tr data-id=" not in before.text
    bad = admin.get("/centre/audit?since=2026-13-45")
    assert bad.status_code == 422 and "invalid_input" in bad.text and 'aria-invalid="true"' in bad.text
    backwards = admin.get("/centre/audit?since=2026-03-02&until=2026-03-01")
    assert backwards.status_code == 422


def test_personal_data_in_the_trail_is_shown_masked(platform, signed_in, admin_actor):
    with platform.uow() as uow:
        uow.audit(actor=admin_actor, action="person.corrected", entity_type="person", entity_id="77",
                  before={"name": "周小冬", "ssn": "320402199001010013"}, after={"phone": "13812345678"})
        uow.commit()
    admin = signed_in(Role.ADMIN)
    page = admin.get("/centre/audit?entity_type=person&entity_id=77")
    assert "周*冬" in page.text and "138****5678" in page.text
    assert "320402199001010013" not in page.text and "周小冬" not in page.text


def test_the_admin_verifies_the_records_shown(platform, signed_in):
    write(platform, "CARD00004", "a", "b")
    admin = signed_in(Role.ADMIN)
    admin.get("/lang/en")
    path = "/centre/audit?entity_id=CARD00004"
    page = admin.get(path)
    assert "The trail has not been verified yet." in page.text
    lowest = re.search(r'name="lowest_id" value="(\d+)"', page.text).group(1)
    answer = admin.post("/centre/audit/verify", follow_redirects=False, data={
        "csrf_token": form_token(admin, path), "lowest_id": lowest, "back": "?entity_id=CARD00004"})
    assert answer.status_code == 303 and answer.headers["location"] == path
    with platform.uow(read_only=True) as uow:
        verification = uow.session.query(AuditVerification).one()
        asked = uow.session.query(AuditRecord).filter_by(action="audit.verify").one()
    assert verification.ok and verification.triggered_by.startswith("page:")
    assert asked.entity_id == str(verification.id)
    shown = admin.get(path)
    assert 'class="alert ok"' in shown.text


def test_verifying_needs_the_form_token(platform, signed_in):
    write(platform, "CARD00005", "a")
    admin = signed_in(Role.ADMIN)
    refused = admin.post("/centre/audit/verify", data={"lowest_id": "1"}, follow_redirects=False)
    assert refused.status_code == 403
    with platform.uow(read_only=True) as uow:
        assert uow.session.query(AuditVerification).count() == 0
