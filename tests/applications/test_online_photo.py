"""An online application with the applicant's own photo (the registry's otherwise): every
failing photo rule is refused at once, before the identity services are asked."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from yikatong.applications.reference import synthetic_photo
from yikatong.core.actor import Role
from yikatong.people.service import get_photo

pytestmark = pytest.mark.db

API = "/api/v1/applications"
BODY = {"name": "王晓明", "id_number": "320402199003070013", "auth_evidence": "face-ok",
        "bank_code": "ICBC", "delivery": "ems_cod", "mailing_address": "常州市天宁区示例路1号"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_the_uploaded_photo_is_the_one_kept(client, login, platform):
    photo = synthetic_photo("my-own")
    answer = client.post(f"{API}/online", headers=login(Role.HOLDER),
                         json=BODY | {"photo_jpeg_base64": b64(photo)})
    assert answer.status_code == 201, answer.text
    with platform.uow() as uow:
        assert get_photo(uow=uow, person_id=answer.json()["person_id"]) == photo


def test_a_bad_photo_is_refused_with_every_failing_rule(client, login):
    out = io.BytesIO()
    Image.new("RGB", (358, 441), (30, 30, 30)).save(out, format="JPEG", dpi=(72, 72))
    answer = client.post(f"{API}/online", headers=login(Role.HOLDER),
                         json=BODY | {"photo_jpeg_base64": b64(out.getvalue())})
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["code"] == "photo_rejected"
    assert {f["code"] for f in problem["details"]["failures"]} == {
        "photo_wrong_resolution", "photo_background_not_white"}


def test_a_photo_lets_someone_without_one_on_file_apply_online(client, login):
    answer = client.post(f"{API}/online", headers=login(Role.HOLDER), json=BODY | {
        "name": "周秀英", "id_number": "320481195505050060",  # on file without a photo
        "photo_jpeg_base64": b64(synthetic_photo("zhou"))})
    assert answer.status_code == 201, answer.text
