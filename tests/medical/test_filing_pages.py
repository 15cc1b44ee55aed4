"""The holder's cross-region filing page (/me/medical/filings): file a stay, see it, refuse a
back-dated one with the reason, cancel it from today."""

from __future__ import annotations

import pytest

from tests.medical.conftest import enrol, registered
from tests.pages.conftest import form_token, page_client, signed_in  # noqa: F401 - fixtures
from yikatong.core.actor import Role
from yikatong.medical import crossregion

pytestmark = pytest.mark.db

PAGE = "/me/medical/filings"


def test_the_holder_files_sees_and_cancels_a_stay(platform, signed_in):  # noqa: F811
    _, person_id = registered(platform)
    enrol(platform, person_id)
    client = signed_in(Role.HOLDER, person_id=person_id)
    empty = client.get(PAGE)
    assert empty.status_code == 200 and "您还没有异地就医备案" in empty.text

    refused = client.post(PAGE, data={"csrf_token": form_token(client, PAGE), "filed_admdvs": "320100",
                                      "reason": "referral", "begin": "2026-02-01", "idempotency_key": "k-1"})
    assert refused.status_code == 422 and "medical_filing_invalid" in refused.text and "补办" in refused.text

    filed = client.post(PAGE, follow_redirects=False, data={
        "csrf_token": form_token(client, PAGE), "filed_admdvs": "310000", "reason": "long_term_residence",
        "idempotency_key": "k-2"})
    assert filed.status_code == 303, filed.text
    with platform.uow() as uow:
        (filing,) = crossregion.filings(uow=uow, person_id=person_id)
    assert (filing.filed_admdvs, filing.kind, filing.end) == ("310000", "long_term", None)
    page = client.get(PAGE).text
    assert f'id="filing-{filing.id}"' in page and "异地长期居住" in page and "至撤销为止" in page

    cancelled = client.post(f"{PAGE}/{filing.id}/cancel", follow_redirects=False,
                            data={"csrf_token": form_token(client, PAGE), "reason": "回常州了"})
    assert cancelled.status_code == 303
    assert "已撤销" in client.get(PAGE).text
