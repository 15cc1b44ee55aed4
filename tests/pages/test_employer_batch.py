"""The employer batch page: a CSV and a zip of photos become the API's batch; each row is
accepted or refused with its reason in words; a malformed file is refused whole."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
from sqlalchemy import func, select

from tests.applications.conftest import new_applicant
from tests.applications.test_rules import uscc_check
from tests.cards.conftest import row_counts
from tests.pages.conftest import form_token
from yikatong.applications.models import Application
from yikatong.core.actor import Role
from yikatong.employers.web import COLUMNS

pytestmark = pytest.mark.db

USCC = "91320400MA1M9XK3P" + uscc_check("91320400MA1M9XK3P")
FORM = {"employer_name": "常州示例科技有限公司", "uscc": USCC, "authorisation_letter_ref": "",
        "agent_name": "经办人", "agent_document_type": "resident_id_card",
        "agent_document_number": "320412197801010043", "agent_phone": ""}


@pytest.fixture(autouse=True)
def chip_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("YKT_CHIP_DIR", str(tmp_path / "chips"))


def text_of(page) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page.text).split())


def employees_csv(applicants, *, banks, encoding="utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.name for c in COLUMNS])
    for number, (person, bank) in enumerate(zip(applicants, banks, strict=True), start=1):
        writer.writerow([person.name, person.document_type, person.document_number, person.gender,
                         person.birth_date.isoformat(), "", "", "",
                         person.document_valid_until.isoformat(), bank, "SS-WJ-01",
                         f"p{number}.jpg"])
    return out.getvalue().encode(encoding)


def photos_zip(applicants) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for number, person in enumerate(applicants, start=1):
            archive.writestr(f"photos/p{number}.jpg", person.photo_jpeg)
    return out.getvalue()


def upload(client, csv_bytes, zip_bytes, **form):
    token = form_token(client, "/employer/batches")
    return client.post("/employer/batches", follow_redirects=False,
                       data={"csrf_token": token, **FORM, **form},
                       files=[("csv_file", ("staff.csv", csv_bytes, "text/csv")),
                              ("photos", ("photos.zip", zip_bytes, "application/zip"))])


def applications(platform) -> int:
    with platform.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(Application)).scalar_one()


def test_one_bad_row_is_refused_in_words_and_the_others_applied(platform, signed_in):
    employer = signed_in(Role.EMPLOYER_AGENT, employer_uscc=USCC)
    staff = [new_applicant() for _ in range(3)]
    answer = upload(employer, employees_csv(staff, banks=["ICBC", "NOPE", "CCB"]), photos_zip(staff))
    assert answer.status_code == 303, answer.text
    results = employer.get(answer.headers["location"])
    assert results.status_code == 200
    rows = re.findall(r"<tr>(.*?)</tr>", results.text, flags=re.S)[1:]
    assert [("已受理" in row, "未受理" in row) for row in rows] == [(True, False), (False, True), (True, False)]
    assert "unknown_bank" in rows[1] and "NOPE" in rows[1]
    assert staff[0].name not in results.text  # the list shows names masked
    assert applications(platform) == 2


def test_a_gb18030_csv_from_a_spreadsheet_is_read(platform, signed_in):
    outlet = signed_in(Role.SS_OUTLET, branch_code="SS-TN-01")
    staff = [new_applicant()]
    answer = upload(outlet, employees_csv(staff, banks=["ICBC"], encoding="gb18030"), photos_zip(staff))
    assert answer.status_code == 303, answer.text
    assert "已受理" in text_of(outlet.get(answer.headers["location"]))


def test_malformed_cells_refuse_the_file_whole_and_list_each(platform, signed_in):
    employer = signed_in(Role.EMPLOYER_AGENT, employer_uscc=USCC)
    staff = [new_applicant(), new_applicant()]
    lines = employees_csv(staff, banks=["ICBC", "ICBC"]).decode().splitlines()
    lines[2] = lines[2].replace(staff[1].birth_date.isoformat(), "1990/13/40")
    data = "\r\n".join(lines) + "\r\n"
    before = row_counts(platform)
    answer = upload(employer, data.encode(), photos_zip(staff[:1]))
    assert answer.status_code == 422
    problems = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td><code>(.*?)</code>", answer.text, flags=re.S)
    assert ("2", "birth_date") in problems and ("2", "photo_file") in problems
    assert row_counts(platform) == before


def test_a_refused_employer_credential_changes_nothing(platform, signed_in):
    employer = signed_in(Role.EMPLOYER_AGENT, employer_uscc=USCC)
    staff = [new_applicant()]
    before = row_counts(platform)
    other = "91320400MA1M9XK4P" + uscc_check("91320400MA1M9XK4P")
    answer = upload(employer, employees_csv(staff, banks=["ICBC"]), photos_zip(staff), uscc=other)
    assert answer.status_code >= 400 and 'role="alert"' in answer.text
    assert row_counts(platform) == before


def test_the_template_has_every_column(signed_in):
    employer = signed_in(Role.EMPLOYER_AGENT, employer_uscc=USCC)
    template = employer.get("/employer/batches/template.csv")
    header = template.content.decode("utf-8-sig").splitlines()[0].split(",")
    assert header == [c.name for c in COLUMNS]


def test_another_employers_batch_is_not_found(platform, signed_in):
    employer = signed_in(Role.EMPLOYER_AGENT, employer_uscc=USCC)
    staff = [new_applicant()]
    location = upload(employer, employees_csv(staff, banks=["ICBC"]), photos_zip(staff)).headers["location"]
    rival = signed_in(Role.EMPLOYER_AGENT, employer_uscc="91320400MA1M9XK4P" + uscc_check("91320400MA1M9XK4P"))
    assert rival.get(location).status_code == 404


@pytest.mark.parametrize("token", ["forged", None])
def test_an_upload_without_the_forms_token_first_is_refused(platform, signed_in, token):
    """asgi-csrf cannot read multipart forms (pages.sessions reads their first field)."""
    employer = signed_in(Role.EMPLOYER_AGENT, employer_uscc=USCC)
    staff = [new_applicant()]
    fields = {**FORM} | ({"csrf_token": token} if token else {})
    before = row_counts(platform)
    answer = employer.post("/employer/batches", follow_redirects=False, data=fields,
                           files=[("csv_file", ("staff.csv", employees_csv(staff, banks=["ICBC"]),
                                                "text/csv"))])
    assert answer.status_code == 403 and "csrf_failed" in answer.text
    assert row_counts(platform) == before
