"""Asking for a sign-up code answers before the ID number is even looked up, so neither the
answer nor its time says whether the number is on file with a phone (before, a known number
cost a code, a text and an audit record inside the request; an unknown one only a hash).
Proved on a real server: the answer arrives while the lookup is held back."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.binding.conftest import AUTH
from tests.servers import serving
from yikatong.auth import binding

pytestmark = pytest.mark.db


def test_the_answer_comes_before_the_lookup_and_the_code_still_goes_out(platform, person, monkeypatch):
    from yikatong.api.app import create_app

    applicant, _ = person()
    lookup_may_run, looked_up = threading.Event(), []
    original = binding.send_sign_up_code

    def held_back(**kwargs):
        assert lookup_may_run.wait(timeout=30), "the answer never came"
        looked_up.append(kwargs["id_number"])
        return original(**kwargs)

    monkeypatch.setattr(binding, "send_sign_up_code", held_back)
    with serving(create_app(platform)) as url, httpx.Client(base_url=url, timeout=10) as http:
        answers = [http.post(f"{AUTH}/holders/codes", json={"name": applicant.name, "id_number": number})
                   for number in (applicant.document_number, "320402199001010038")]
        assert [a.status_code for a in answers] == [202, 202] and not looked_up
        assert answers[0].json() == answers[1].json()
        lookup_may_run.set()
        deadline = time.monotonic() + 10
        while not (len(looked_up) == 2 and sent_codes(platform)) and time.monotonic() < deadline:
            time.sleep(0.02)
    # each answer's background task runs on its own worker thread: in either order
    assert sorted(looked_up) == sorted([applicant.document_number, "320402199001010038"])
    assert sent_codes(platform) == 1  # the known number's code went out after the answer


def sent_codes(platform) -> int:
    from sqlalchemy import func, select

    from yikatong.auth.models import BindingCode

    with platform.uow() as uow:
        return uow.session.execute(select(func.count()).select_from(BindingCode)).scalar_one()
