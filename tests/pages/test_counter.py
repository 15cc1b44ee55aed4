"""The outlet counter's pages through the ASGI app: the work queue, finding a person (masked,
then disclosed with a reason), taking and deciding an application, hand-over, the card-face
proof, identity reviews and corrections (maker-checker), and the exchange's refund step."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from tests.applications.conftest import ADMIN, OUTLET, new_applicant, pickup
from tests.pages.conftest import HTML, form_token
from yikatong.applications import production
from yikatong.applications import service as applications
from yikatong.applications.models import Application
from yikatong.applications.protocols import CardFactory
from yikatong.audit.models import AuditRecord
from yikatong.core.actor import Role

pytestmark = pytest.mark.db

SS_OUTLET = {"branch_code": "SS-TN-01"}
PARTNER_OUTLET = {"branch_code": "SMK-PARTNER-01"}


@pytest.fixture(autouse=True)
def chip_directory(tmp_path, monkeypatch):
    """Chip images of the cards these tests produce go to a temporary folder."""
    monkeypatch.setenv("YKT_CHIP_DIR", str(tmp_path / "chips"))


def submit(platform, applicant=None, actor=OUTLET):
    with platform.uow() as uow:
        return applications.submit_at_outlet(uow=uow, actor=actor,
                                             applicant=applicant or new_applicant(),
                                             choice=pickup())


def ready_for_pickup(platform) -> int:
    app = submit(platform)
    with platform.uow() as uow:
        applications.approve(uow=uow, actor=OUTLET, application_id=app.id)
    production.run_production(uows=platform.uow, actor=ADMIN, factory=platform.get(CardFactory))
    with platform.uow() as uow:
        applications.mark_ready_for_pickup(uow=uow, actor=OUTLET, application_id=app.id)
    return app.id


def post(client, page: str, action: str, **fields):
    return client.post(action, headers=HTML, follow_redirects=False,
                       data={"csrf_token": form_token(client, page), **fields})


def results(html: str) -> str:
    """The search's result table (the search field keeps what the operator typed)."""
    return html[html.index('<table'):html.index('</table>')]


def status_of(platform, application_id: int) -> str:
    with platform.uow(read_only=True) as uow:
        return uow.session.get(Application, application_id).status


# --- the counter ----------------------------------------------------------------------------


def test_the_counter_lists_this_outlets_work_with_numbers_masked(platform, signed_in):
    applicant = new_applicant()
    mine = submit(platform, applicant)
    elsewhere = submit(platform, actor=OUTLET.__class__(**{**OUTLET.__dict__, "branch_code": "SS-WJ-01"}))
    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    page = client.get("/counter")
    assert page.status_code == 200
    assert f"/counter/applications/{mine.id}" in page.text
    assert f"/counter/applications/{elsewhere.id}" not in page.text
    assert applicant.document_number not in page.text
    assert applicant.document_number[:6] in page.text  # masked: the region part shows


def test_a_citizen_outlet_sees_no_application_queue_and_no_intake(platform, signed_in):
    submit(platform)
    client = signed_in(Role.CITIZEN_OUTLET, **PARTNER_OUTLET)
    page = client.get("/counter")
    assert page.status_code == 200
    assert "/counter/applications/" not in page.text
    assert client.get("/counter/applications/new").status_code == 403


# --- finding a person ------------------------------------------------------------------------


def test_a_partner_outlet_finds_a_person_masked_and_sees_them_whole_after_a_reason(
        platform, signed_in):
    applicant = new_applicant()
    person_id = submit(platform, applicant).person_id
    client = signed_in(Role.CITIZEN_OUTLET, **PARTNER_OUTLET)

    found = post(client, "/counter/people", "/counter/people", q=applicant.document_number)
    assert found.status_code == 200
    table = results(found.text)
    assert f"/counter/people/{person_id}" in table
    assert applicant.document_number not in table and applicant.name not in table

    record = client.get(f"/counter/people/{person_id}")
    assert applicant.document_number not in record.text and applicant.name not in record.text
    assert "/counter/applications/" not in record.text  # the table: applications are SS work

    refused = post(client, f"/counter/people/{person_id}", f"/counter/people/{person_id}/disclosures",
                   reason_code="holder_present", note="")
    assert refused.status_code == 422
    assert applicant.document_number not in refused.text

    shown = post(client, f"/counter/people/{person_id}", f"/counter/people/{person_id}/disclosures",
                 reason_code="holder_present", note="身份证原件已核验")
    assert shown.status_code == 200
    assert applicant.document_number in shown.text and applicant.name in shown.text
    assert 'src="data:image/jpeg;base64,' in shown.text
    with platform.uow(read_only=True) as uow:
        audit = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "person.disclose")).scalars().all()
    assert [record.entity_id for record in audit] == [str(person_id)]


def test_a_social_security_outlet_sees_the_record_whole_without_a_disclosure(platform, signed_in):
    applicant = new_applicant()
    person_id = submit(platform, applicant).person_id
    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    found = results(post(client, "/counter/people", "/counter/people", q=applicant.name).text)
    assert applicant.name in found and applicant.document_number not in found
    record = client.get(f"/counter/people/{person_id}")
    assert applicant.document_number in record.text
    assert f"/counter/people/{person_id}/disclosures" not in record.text  # the table: CO, PA


# --- taking and deciding an application ----------------------------------------------------


def form_of(applicant, **overrides) -> dict:
    fields = {"kind": "first", "bank_code": "ICBC", "name": applicant.name,
              "document_type": applicant.document_type,
              "document_number": applicant.document_number, "gender": applicant.gender,
              "birth_date": applicant.birth_date.isoformat(),
              "document_valid_until": date(2036, 1, 1).isoformat(), "mode": "self",
              "idempotency_key": f"page-{applicant.document_number}"}
    fields.update(overrides)
    return fields


def take(client, fields: dict, photo: bytes | None, *, token: str | None = None):
    """The form as a browser sends it: multipart, its token the first field."""
    token = form_token(client, "/counter/applications/new") if token is None else token
    files = {"photo": ("photo.jpg", photo or b"", "image/jpeg")}
    return client.post("/counter/applications", headers=HTML, follow_redirects=False,
                       files=files, data={"csrf_token": token, **fields})


def count_applications(platform) -> int:
    with platform.uow(read_only=True) as uow:
        return len(uow.session.execute(select(Application.id)).all())


def test_an_application_taken_at_the_counter_with_its_photo(platform, signed_in):
    applicant = new_applicant()
    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    answer = take(client, form_of(applicant), applicant.photo_jpeg)
    assert answer.status_code == 303, answer.text
    application_id = int(answer.headers["location"].rsplit("/", 1)[1])
    page = client.get(answer.headers["location"])
    assert page.status_code == 200 and "/approve" in page.text
    with platform.uow(read_only=True) as uow:
        app = uow.session.get(Application, application_id)
        assert (app.status, app.mode, app.submitted_at_outlet) == ("submitted", "self", "SS-TN-01")

    again = take(client, form_of(applicant), applicant.photo_jpeg)  # a double submit
    assert again.headers["location"] == answer.headers["location"]


def test_each_form_shown_is_a_new_application(platform, signed_in):
    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    keys = set()
    for applicant in (new_applicant(), new_applicant()):
        form = client.get("/counter/applications/new").text
        key = re.search(r'name="idempotency_key" value="([^"]+)"', form).group(1)
        keys.add(key)
        answer = take(client, form_of(applicant, idempotency_key=key), applicant.photo_jpeg)
        assert answer.status_code == 303, answer.text
    assert len(keys) == 2 and count_applications(platform) == 2


def test_the_application_form_without_its_token_is_refused(platform, signed_in):
    applicant = new_applicant()
    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    form_token(client, "/counter/applications/new")  # the CSRF cookie is set
    for token in ("", "forged"):
        answer = take(client, form_of(applicant), applicant.photo_jpeg, token=token)
        assert answer.status_code == 403 and "csrf_failed" in answer.text
    assert count_applications(platform) == 0


def test_a_photo_failing_the_rules_lists_every_failure_and_changes_nothing(platform, signed_in):
    from yikatong.applications.reference import synthetic_photo

    applicant = new_applicant()
    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    grey = synthetic_photo("grey", background=(120, 120, 120))
    answer = take(client, form_of(applicant), grey)
    assert answer.status_code == 422
    assert "photo_rejected" in answer.text
    assert re.search(r'<ul class="error" id="f-photo-error">\s*<li>', answer.text)
    assert f'value="{applicant.document_number}"' in answer.text  # the form keeps what was typed
    assert count_applications(platform) == 0


def test_an_agent_without_their_document_is_refused(platform, signed_in):
    applicant = new_applicant()
    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    answer = take(client, form_of(applicant, mode="agent", agent_name="代办人"), applicant.photo_jpeg)
    assert answer.status_code == 422 and "agent.document_number" in answer.text
    assert count_applications(platform) == 0


def test_an_agent_with_both_documents_is_recorded(platform, signed_in):
    applicant, agent = new_applicant(), new_applicant()
    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    answer = take(client, form_of(applicant, mode="agent", agent_name=agent.name,
                                  agent_document_type="resident_id_card",
                                  agent_document_number=agent.document_number),
                  applicant.photo_jpeg)
    assert answer.status_code == 303, answer.text
    with platform.uow(read_only=True) as uow:
        app = uow.session.execute(select(Application)).scalar_one()
        assert app.mode == "agent" and app.agent["document_number"] == agent.document_number


def test_approve_and_reject_from_the_application_page(platform, signed_in):
    first, second = submit(platform), submit(platform)
    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    page = f"/counter/applications/{first.id}"
    assert post(client, page, f"{page}/approve").status_code == 303
    assert status_of(platform, first.id) == "approved"

    page = f"/counter/applications/{second.id}"
    refused = post(client, page, f"{page}/reject", reason="")
    assert refused.status_code == 422 and status_of(platform, second.id) == "submitted"
    assert post(client, page, f"{page}/reject", reason="照片不符").status_code == 303
    assert status_of(platform, second.id) == "rejected"
    again = post(client, f"/counter/applications/{first.id}", f"/counter/applications/{first.id}/approve")
    assert again.status_code == 409 and "role=\"alert\"" in again.text


def test_hand_over_shows_the_activation_code_once_and_the_proof_prints(platform, signed_in):
    application_id = ready_for_pickup(platform)
    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    page = f"/counter/applications/{application_id}"
    assert f"/counter/applications/{application_id}" in client.get("/counter").text
    done = post(client, page, f"{page}/hand-over")
    assert done.status_code == 200
    assert re.search(r'<code id="activation-code">[\w-]{8,}</code>', done.text)
    assert status_of(platform, application_id) == "handed_over"
    assert 'id="activation-code"' not in client.get(page).text

    proof = client.get(f"{page}/proof")
    assert proof.status_code == 200 and f"{page}/face.png" in proof.text
    image = client.get(f"{page}/face.png")
    assert image.headers["content-type"] == "image/png" and image.content[:4] == b"\x89PNG"


def test_no_proof_before_the_card_is_made(platform, signed_in):
    app = submit(platform)
    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    assert client.get(f"/counter/applications/{app.id}/proof").status_code == 409


# --- identity reviews and corrections: one proposes, another decides -------------------------


def namesake_review(platform) -> int:
    first = new_applicant()
    submit(platform, first)
    twin = new_applicant(name=first.name, birth=first.birth_date, gender=first.gender)
    return submit(platform, twin).identity_review_id


def test_a_review_is_resolved_by_one_operator_and_approved_by_another(platform, signed_in):
    review_id = namesake_review(platform)
    maker = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    checker = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    queue = maker.get("/counter/reviews")
    assert queue.status_code == 200 and f'id="review-{review_id}"' in queue.text

    resolved = post(maker, "/counter/reviews", f"/counter/reviews/{review_id}/resolve",
                    resolution="merge", reason="同一人，证件核验一致")
    assert resolved.status_code == 303
    own = post(maker, "/counter/reviews", f"/counter/reviews/{review_id}/approve")
    assert own.status_code == 403 and "maker_cannot_approve" in own.text
    approved = post(checker, "/counter/reviews", f"/counter/reviews/{review_id}/approve")
    assert approved.status_code == 303
    assert f'id="review-{review_id}"' not in checker.get("/counter/reviews").text


def test_a_correction_is_refused_to_its_maker_and_approved_by_another(platform, signed_in):
    person_id = submit(platform).person_id
    maker = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    checker = signed_in(Role.CITIZEN_OUTLET, **PARTNER_OUTLET)
    proposed = post(maker, f"/counter/people/{person_id}", f"/counter/people/{person_id}/corrections",
                    name="更正后", reason="登记错误")
    assert proposed.status_code == 303
    listed = maker.get("/counter/corrections")
    correction_id = int(re.search(r'id="correction-(\d+)"', listed.text).group(1))

    own = post(maker, "/counter/corrections", f"/counter/corrections/{correction_id}/approve")
    assert own.status_code == 403 and "maker_cannot_approve" in own.text
    approved = post(checker, "/counter/corrections", f"/counter/corrections/{correction_id}/approve")
    assert approved.status_code == 303
    with platform.uow(read_only=True) as uow:
        from yikatong.people.service import get_person
        assert get_person(uow=uow, person_id=person_id).name == "更正后"


# --- exchange: the wallet refund step first ----------------------------------------------------


def test_the_exchange_waits_for_the_wallet_refund_and_an_unreadable_card_goes_ahead(
        platform, signed_in):
    application_id = ready_for_pickup(platform)
    with platform.uow() as uow:
        person_id = applications.hand_over(uow=uow, actor=OUTLET,
                                           application_id=application_id).person_id
    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    page = f"/counter/exchange/{person_id}"
    waiting = client.get(page)
    assert waiting.status_code == 200 and "transit_balance_not_refunded" in waiting.text
    assert "kind=exchange&amp;person_id" not in waiting.text

    assert post(client, page, f"{page}/unreadable").status_code == 303
    after = client.get(page)
    assert "坏卡已登记，等待期满" in after.text  # transit.rules.WALLET_REFUND_STATES
    assert "exchange_reason=damage&amp;card_unreadable=yes" in after.text
    form = client.get(f"/counter/applications/new?kind=exchange&exchange_reason=damage"
                      f"&card_unreadable=yes&person_id={person_id}")
    assert 'name="card_unreadable" value="yes" checked' in form.text


# --- live checks of the application form (htmx) ---------------------------------------------


def test_the_id_number_is_checked_as_it_is_typed(platform, signed_in):
    applicant = new_applicant()
    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    token = form_token(client, "/counter/applications/new")
    answer = client.post("/counter/checks/id-number", headers={**HTML, "X-CSRF-Token": token},
                         data={"document_number": applicant.document_number})
    assert answer.status_code == 200 and "1990" in answer.text and "alert ok" in answer.text
    wrong = applicant.document_number[:-1] + ("0" if applicant.document_number[-1] != "0" else "1")
    refused = client.post("/counter/checks/id-number", headers={**HTML, "X-CSRF-Token": token},
                          data={"document_number": wrong})
    assert refused.status_code == 200 and 'role="alert"' in refused.text


def test_the_photo_rules_are_checked_before_submitting(platform, signed_in):
    from yikatong.applications.reference import synthetic_photo

    client = signed_in(Role.SS_OUTLET, **SS_OUTLET)
    token = form_token(client, "/counter/applications/new")

    def check(photo: bytes):
        return client.post("/counter/checks/photo", headers={**HTML, "X-CSRF-Token": token},
                           files={"photo": ("photo.jpg", photo, "image/jpeg")})

    good = check(synthetic_photo("good"))
    assert good.status_code == 200 and "alert bad" not in good.text and "✗" not in good.text
    grey = check(synthetic_photo("grey", background=(120, 120, 120)))
    assert grey.status_code == 200 and "alert bad" in grey.text and grey.text.count("✗") == 1
    refused = client.post("/counter/checks/photo", headers={**HTML, "X-CSRF-Token": "forged"},
                          files={"photo": ("photo.jpg", synthetic_photo("x"), "image/jpeg")})
    assert refused.status_code == 403
