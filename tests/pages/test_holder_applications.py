"""The holder's application pages: apply online with a photo checked live against every rule,
and track the applications with their EMS delivery; cancel where the rules allow it."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import func, select

from tests.applications.conftest import ADMIN, OUTLET
from tests.pages.conftest import form_token
from yikatong.applications import production, service
from yikatong.applications.models import Application
from yikatong.applications.protocols import CardFactory
from yikatong.applications.reference import synthetic_photo
from yikatong.core.actor import Role
from yikatong.people.photo import RULES, WARNING_RULES
from yikatong.people.service import get_photo

pytestmark = pytest.mark.db

WANG = {"name": "王晓明", "id_number": "320402199003070013"}  # on the synthetic registry
ERROR_RULES = sorted(set(RULES) - WARNING_RULES - {"photo_file_too_large"})


def bad_photo() -> bytes:
    """A small grey PNG: not a JPEG, wrong size, no dpi, not 24-bit colour, not white."""
    out = io.BytesIO()
    Image.new("L", (120, 160), 90).save(out, format="PNG")
    return out.getvalue()


def application_form(token: str, **overrides) -> dict:
    return {"csrf_token": token, **WANG, "auth_evidence": "face-ok", "kind": "first",
            "bank_code": "ICBC", "delivery": "ems_cod", "mailing_address": "常州市天宁区示例路1号",
            "pickup_outlet_code": "", "phone": "13800000000", "idempotency_key": "page-apply-1",
            **overrides}


def apply(client, photo: bytes | None, **overrides):
    token = form_token(client, "/me/apply")
    files = {"photo": ("me.jpg", photo, "image/jpeg")} if photo is not None else None
    return client.post("/me/apply", data=application_form(token, **overrides), files=files,
                       follow_redirects=False)


def count_applications(platform) -> int:
    with platform.uow() as uow:
        return uow.session.execute(select(func.count(Application.id))).scalar_one()


def test_the_form_offers_both_deliveries_and_a_live_photo_check(signed_in):
    page = signed_in(Role.HOLDER).get("/me/apply")
    assert page.status_code == 200
    assert 'value="ems_cod"' in page.text and 'value="pickup"' in page.text
    assert 'hx-post="/me/apply/photo-check"' in page.text
    assert 'enctype="multipart/form-data"' in page.text


def test_the_live_check_lists_every_failing_rule_at_once(signed_in):
    client = signed_in(Role.HOLDER)
    token = form_token(client, "/me/apply")
    answer = client.post("/me/apply/photo-check", headers={"X-CSRF-Token": token},
                         files={"photo": ("me.png", bad_photo(), "image/png")})
    assert answer.status_code == 200
    listed = re.findall(r"<li>(.*?) <span", answer.text)
    assert listed == [RULES[code][0] for code in (
        "photo_not_jpeg", "photo_wrong_dimensions", "photo_wrong_resolution",
        "photo_not_24bit_colour", "photo_background_not_white")]
    assert len(listed) == len(ERROR_RULES)


def test_the_live_check_accepts_a_photo_meeting_the_rules(signed_in):
    client = signed_in(Role.HOLDER)
    token = form_token(client, "/me/apply")
    answer = client.post("/me/apply/photo-check", headers={"X-CSRF-Token": token},
                         files={"photo": ("me.jpg", synthetic_photo("page"), "image/jpeg")})
    assert "照片符合全部要求" in answer.text and "<li>" not in answer.text


def test_the_live_check_needs_the_csrf_token(signed_in):
    answer = signed_in(Role.HOLDER).post(
        "/me/apply/photo-check", files={"photo": ("me.png", bad_photo(), "image/png")})
    assert answer.status_code == 403


def test_a_holder_applies_with_their_photo_and_sees_it_tracked(platform, signed_in):
    client = signed_in(Role.HOLDER)
    photo = synthetic_photo("uploaded-on-the-page")
    answer = apply(client, photo)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith("/me/applications#application-")
    with platform.uow() as uow:
        app = uow.session.execute(select(Application)).scalar_one()
        assert (app.channel, app.delivery, app.status) == ("online", "ems_cod", "submitted")
        assert get_photo(uow=uow, person_id=app.person_id) == photo  # the upload, not the registry's
    tracked = client.get("/me/applications")
    assert "已提交" in tracked.text and "等待审核" in tracked.text
    assert "尚未寄出" in tracked.text  # no tracking number yet
    again = apply(client, photo)  # the same form sent twice: one application
    assert again.status_code == 303 and count_applications(platform) == 1


def test_a_bad_photo_is_refused_with_every_rule_and_nothing_is_made(platform, signed_in):
    answer = apply(signed_in(Role.HOLDER), bad_photo())
    assert answer.status_code == 422
    assert "photo_rejected" in answer.text
    for code in ERROR_RULES:
        assert RULES[code][0] in answer.text
    assert 'value="王晓明"' in answer.text  # what was typed is kept
    assert count_applications(platform) == 0


def test_a_refusal_of_the_rules_is_shown_on_the_form(platform, signed_in):
    answer = apply(signed_in(Role.HOLDER), None, delivery="pickup", pickup_outlet_code="")
    assert answer.status_code >= 400 and 'role="alert"' in answer.text
    assert count_applications(platform) == 0


def test_the_tracking_shows_the_ems_delivery_once_posted(platform, signed_in):
    client = signed_in(Role.HOLDER)
    apply(client, None)
    with platform.uow() as uow:
        app_id = uow.session.execute(select(Application.id)).scalar_one()
        service.approve(uow=uow, actor=OUTLET, application_id=app_id)
    production.run_production(uows=platform.uow, actor=ADMIN, factory=platform.get(CardFactory))
    with platform.uow() as uow:
        service.ship(uow=uow, actor=ADMIN, application_id=app_id, tracking_no="EA123456789CN")
    client.cookies.set("ykt_lang", "en")
    page = client.get("/me/applications")
    assert "EA123456789CN" in page.text and "posted by EMS" in page.text
    assert "on its way" in page.text


def test_a_holder_cancels_an_open_application(platform, signed_in):
    client = signed_in(Role.HOLDER)
    apply(client, None)
    with platform.uow() as uow:
        app_id = uow.session.execute(select(Application.id)).scalar_one()
    path = f"/me/applications/{app_id}/cancel"
    token = form_token(client, "/me/applications")
    unconfirmed = client.post(path, data={"csrf_token": token}, follow_redirects=False)
    assert unconfirmed.status_code == 422
    done = client.post(path, data={"csrf_token": token, "confirm": "yes"}, follow_redirects=False)
    assert done.status_code == 303
    page = client.get("/me/applications")
    assert "已撤销" in page.text and f"{path}" not in page.text  # no second cancel offered


def test_another_holder_cannot_see_or_cancel_it(platform, signed_in):
    apply(signed_in(Role.HOLDER), None)
    with platform.uow() as uow:
        app_id = uow.session.execute(select(Application.id)).scalar_one()
    stranger = signed_in(Role.HOLDER)
    assert f"application-{app_id}" not in stranger.get("/me/applications").text
    token = form_token(stranger, "/me/applications")
    answer = stranger.post(f"/me/applications/{app_id}/cancel",
                           data={"csrf_token": token, "confirm": "yes"})
    assert answer.status_code == 404
    with platform.uow() as uow:
        assert uow.session.get(Application, app_id).status == "submitted"


def test_a_multipart_form_with_a_wrong_token_or_a_file_first_is_refused(platform, signed_in):
    client = signed_in(Role.HOLDER)
    token = form_token(client, "/me/apply")
    photo = {"photo": ("me.jpg", synthetic_photo("x"), "image/jpeg")}
    wrong = client.post("/me/apply", data=application_form("not-" + token), files=photo)
    assert wrong.status_code == 403 and "csrf_failed" in wrong.text
    file_first = client.post("/me/apply", files={
        "photo": ("me.jpg", synthetic_photo("x"), "image/jpeg"), "csrf_token": (None, token)})
    assert file_first.status_code == 403
    assert count_applications(platform) == 0


def test_the_menu_marks_only_the_page_shown(signed_in):
    page = signed_in(Role.HOLDER).get("/me/applications").text
    assert re.findall(r'<a href="([^"]+)" aria-current="page"', page) == ["/me/applications"]


def test_a_file_beyond_the_route_s_body_limit_is_refused_unread(signed_in):
    client = signed_in(Role.HOLDER)
    token = form_token(client, "/me/apply")
    answer = client.post("/me/apply/photo-check", headers={"X-CSRF-Token": token},
                         files={"photo": ("big.jpg", b"\xff" * (4 * 1024 * 1024), "image/jpeg")})
    assert answer.status_code == 413 and "request_too_large" in answer.text
