"""The disbursement's doors: the paying office's API (upload JSON and CSV, run, read), the
pages of the office and the holder, and `ykt benefits run` with its report."""

from __future__ import annotations

import pytest

from tests.benefits.conftest import SI_OFFICE, payee, upload
from tests.conftest import cli_on
from tests.pages.conftest import page_client, signed_in  # noqa: F401 - fixtures
from yikatong.benefits import runs
from yikatong.core.actor import Role

API = "/api/v1/benefits"
pytestmark = pytest.mark.db


def office(login, code: str = "CZ-SI"):
    return login(Role.PAYING_OFFICE, branch_code=code)


def test_an_office_uploads_runs_and_reads_its_run(platform, bank, client, login):
    ssn_1, _, _ = payee(platform)
    ssn_2, _, _ = payee(platform, activate=False)
    headers = office(login)
    csv_body = f"id_number,name,amount_fen,memo\n{ssn_1},王小明,150000,\n{ssn_2},王小明,120000,\n"
    answer = client.post(f"{API}/programmes/unemployment/periods/2026-12/payee-list",
                         content=csv_body.encode(), headers={**headers, "Content-Type": "text/csv"})
    assert answer.status_code == 201, answer.text
    assert (answer.json()["row_count"], answer.json()["total_fen"]) == (2, 270000)
    ran = client.post(f"{API}/programmes/unemployment/periods/2026-12/run", headers=headers)
    assert ran.status_code == 200, ran.text
    assert ran.json()["state"] == "reconciled"
    assert ran.json()["reconciliation"]["posted"] == {"count": 1, "fen": 150000}
    assert ran.json()["reconciliation"]["held"] == {"count": 1, "fen": 120000}
    batches = client.get(f"{API}/programmes/unemployment/periods/2026-12/batches", headers=headers).json()
    assert [(b["state"], b["row_count"], b["posted_count"], b["held_count"]) for b in batches] == [
        ("settled", 2, 1, 1)]
    report = client.get(f"{API}/programmes/unemployment/periods/2026-12/report", headers=headers).json()
    assert {(r["status"], r["count"]) for r in report} == {("posted", 1), ("held", 1)}
    assert client.get(f"{API}/runs", headers=headers).json()[0]["programme_code"] == "unemployment"


def test_json_upload_and_refusals(platform, bank, client, login):
    ssn, _, _ = payee(platform)
    headers = office(login)
    body = {"rows": [{"id_number": ssn, "name": "王小明", "amount_fen": 100000}]}
    assert client.post(f"{API}/programmes/unemployment/periods/2026-12/payee-list", json=body,
                       headers=headers).status_code == 201
    twice = {"rows": [{"id_number": ssn, "name": "王小明", "amount_fen": 1},
                      {"id_number": ssn, "name": "王小明", "amount_fen": 1}]}
    refused = client.post(f"{API}/programmes/unemployment/periods/2027-01/payee-list", json=twice,
                          headers=headers)
    assert refused.status_code == 422 and refused.json()["code"] == "benefits_invalid_payee_list"
    talent = office(login, "CZ-TALENT")
    other = client.post(f"{API}/programmes/unemployment/periods/2026-12/run", headers=talent)
    assert other.status_code == 403 and other.json()["code"] == "benefits_not_your_programme"
    bad_period = client.get(f"{API}/programmes/unemployment/periods/2026-13/run", headers=headers)
    assert bad_period.status_code in (404, 422)


def test_the_holder_reads_own_payments_only(platform, bank, client, login):
    ssn, person_id, _ = payee(platform)
    upload(platform, "unemployment", "2026-12", [(ssn, "王小明", 224100, "")])
    runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    mine = client.get(f"{API}/me/payments", headers=login(Role.HOLDER, person_id=person_id)).json()
    assert [(p["programme"], p["amount_fen"], p["status"]) for p in mine] == [("unemployment", 224100, "posted")]
    assert ssn not in str(mine)
    other_holder = client.get(f"{API}/me/payments", headers=login(Role.HOLDER, person_id=person_id + 999))
    assert other_holder.json() == []
    assert client.get(f"{API}/runs", headers=login(Role.HOLDER, person_id=person_id)).status_code == 403


def test_the_pages_of_the_office_and_the_holder(platform, bank, signed_in):  # noqa: F811
    ssn, person_id, _ = payee(platform)
    stranger = "320402199001010018"
    upload(platform, "unemployment", "2026-12", [(ssn, "王小明", 224100, ""), (stranger, "李四", 1000, "")])
    runs.run(platform, actor=SI_OFFICE, programme_code="unemployment", period="2026-12")
    office_page = signed_in(Role.PAYING_OFFICE, branch_code="CZ-SI")
    listing = office_page.get("/office/runs")
    assert listing.status_code == 200 and "/office/runs/unemployment/2026-12" in listing.text
    page = office_page.get("/office/runs/unemployment/2026-12")
    assert page.status_code == 200
    assert "<svg" in page.text and 'id="failures"' in page.text
    assert "no card in use" in page.text and stranger not in page.text
    talent_page = signed_in(Role.PAYING_OFFICE, branch_code="CZ-TALENT")
    assert talent_page.get("/office/runs/unemployment/2026-12").status_code == 403
    holder_page = signed_in(Role.HOLDER, person_id=person_id)
    mine = holder_page.get("/me/payments")
    assert mine.status_code == 200 and "2026-12" in mine.text and "2,241.00" in mine.text


def test_ykt_benefits_run_draws_its_report(platform, bank, monkeypatch, tmp_path):
    ssn, _, _ = payee(platform)
    upload(platform, "unemployment", "2026-12", [(ssn, "王小明", 224100, "")])
    run = cli_on(platform, monkeypatch)
    html = tmp_path / "report.html"
    result = run("benefits", "run", "unemployment", "--period", "2026-12", "--html", html)
    assert result.exit_code == 0, result.output
    assert "reconciled" in result.output and "█" in result.output and "ICBC" in result.output
    assert "<svg" in html.read_text(encoding="utf-8")
    again = run("benefits", "report", "unemployment", "--period", "2026-12")
    assert again.exit_code == 0 and "posted" in again.output
    missing = run("benefits", "run", "unemployment", "--period", "2027-01")
    assert missing.exit_code != 0
