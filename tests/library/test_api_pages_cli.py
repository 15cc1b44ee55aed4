"""The library's doors: the API (holder opts in and reads their loans; the librarian lends,
takes back and is refused with words for a lost card), the pages (the holder's my-library,
the librarian's desk) and `ykt library`."""

from __future__ import annotations

import pytest

from tests.banking.helpers import act
from tests.conftest import cli_on
from tests.library.conftest import holder, person_with_card
from tests.pages.conftest import form_token, page_client, signed_in  # noqa: F401 - fixtures
from yikatong.cards import service as cards
from yikatong.core.actor import Role

pytestmark = pytest.mark.db
API = "/api/v1/library"


def test_the_holder_opts_in_and_the_librarian_lends_and_takes_back(lib_platform, client, login):
    _, person_id, card, _ = person_with_card(lib_platform, opt_in=False)
    me = login(Role.HOLDER, person_id=person_id)
    desk = login(Role.LIBRARIAN, branch_code="CZLIB")
    assert client.get(f"{API}/me", headers=me).json()["blocks"] == ["not_a_reader"]
    refused = client.post(f"{API}/loans", headers=desk, json={"patron": card.card_no, "barcode": "CZLIB-0001"})
    assert refused.status_code == 409 and refused.json()["code"] == "library_refused"
    opted = client.post(f"{API}/me/opt-in", headers=me)
    assert opted.status_code == 200 and opted.json()["reader_no"].startswith("CZR")
    lent = client.post(f"{API}/loans", headers=desk, json={"patron": card.card_no, "barcode": "CZLIB-0001"})
    assert lent.status_code == 201, lent.text
    assert lent.json()["due_on"] == "2026-04-01" and lent.json()["ok"]
    mine = client.get(f"{API}/me", headers=me).json()
    assert [loan["item_barcode"] for loan in mine["account"]["loans"]] == ["CZLIB-0001"]
    renewed = client.post(f"{API}/me/renewals", headers=me, json={"barcode": "CZLIB-0001"})
    assert renewed.status_code == 200 and renewed.json()["due_on"] == "2026-04-01"
    again = client.post(f"{API}/me/renewals", headers=me, json={"barcode": "CZLIB-0001"})
    assert again.status_code == 200  # the same instant: the same renewal, not a second one
    patron = client.get(f"{API}/patrons/{card.card_no}", headers=desk).json()
    assert patron["may_borrow"] and patron["account"]["loans"][0]["renewals"] == 1
    assert client.get(f"{API}/loans", headers=desk).json()[0]["item_barcode"] == "CZLIB-0001"
    back = client.post(f"{API}/returns", headers=desk, json={"barcode": "CZLIB-0001"})
    assert back.status_code == 200 and back.json()["item"]["on_loan_to"] is None
    assert client.get(f"{API}/patrons/NOSUCH999", headers=desk).status_code == 404
    assert client.get(f"{API}/items/NO-SUCH", headers=desk).status_code == 404
    assert client.get(f"{API}/items", headers=me).status_code == 403


def test_a_lost_card_is_refused_at_the_desk_with_words(lib_platform, client, login):
    _, person_id, card, _ = person_with_card(lib_platform)
    act(lib_platform, cards.report_loss, actor=holder(person_id), card_no=card.card_no, kind="formal",
        function="hr")
    desk = login(Role.LIBRARIAN, branch_code="CZLIB")
    refused = client.post(f"{API}/loans", headers=desk, json={"patron": card.card_no, "barcode": "CZLIB-0002"})
    assert refused.status_code == 409
    assert "挂失" in refused.json()["title"] and "lost" in refused.json()["title_en"]
    patron = client.get(f"{API}/patrons/{card.card_no}", headers=desk).json()
    assert patron["blocks"] == ["card_not_usable"] and not patron["may_borrow"]


def test_a_librarian_of_another_library_does_not_see_these_items(lib_platform, client, login):
    other = login(Role.LIBRARIAN, branch_code="WJLIB")
    assert client.get(f"{API}/items", headers=other).json() == []
    assert client.get(f"{API}/items/CZLIB-0001", headers=other).status_code == 404
    added = client.post(f"{API}/items", headers=other, json={"barcode": "WJ-1", "title": "武进志"})
    assert added.status_code == 201 and added.json()["library_code"] == "WJLIB"
    assert client.post(f"{API}/items", headers=other, json={"barcode": "WJ-1", "title": "x"}).status_code == 409


def test_the_pages_my_library_and_the_desk(lib_platform, signed_in):  # noqa: F811
    _, person_id, card, _ = person_with_card(lib_platform, opt_in=False)
    browser = signed_in(Role.HOLDER, person_id=person_id)
    page = browser.get("/me/library")
    assert page.status_code == 200 and "开通社保卡借阅功能" in page.text
    token = form_token(browser, "/me/library")
    assert browser.post("/me/library/opt-in", data={"csrf_token": token},
                        follow_redirects=False).status_code == 303
    page = browser.get("/me/library")
    assert 'id="reader-no"' in page.text
    librarian = signed_in(Role.LIBRARIAN, branch_code="CZLIB")
    desk = librarian.get("/library/desk")
    assert desk.status_code == 200 and "平凡的世界" in desk.text
    token = form_token(librarian, "/library/desk")
    found = librarian.post("/library/desk/patron", data={"csrf_token": token, "patron": card.card_no})
    assert found.status_code == 200 and 'id="patron-found"' in found.text
    lent = librarian.post("/library/desk/checkout", data={"csrf_token": token, "patron": card.card_no,
                                                          "barcode": "CZLIB-0004"})
    assert lent.status_code == 200 and 'id="done"' in lent.text
    assert "三体" in browser.get("/me/library").text
    twice = librarian.post("/library/desk/checkout", data={"csrf_token": token, "patron": "NOSUCH999",
                                                           "barcode": "CZLIB-0004"})
    assert twice.status_code == 404 and "library_patron_not_found" in twice.text
    back = librarian.post("/library/desk/checkin", data={"csrf_token": token, "barcode": "CZLIB-0004"})
    assert back.status_code == 200 and 'id="done"' in back.text


def test_the_cli(lib_platform, monkeypatch):
    _, person_id, card, _ = person_with_card(lib_platform, opt_in=False)
    run = cli_on(lib_platform, monkeypatch)
    assert "CZLIB" in run("library", "rules").output
    opted = run("library", "opt-in", person_id)
    assert opted.exit_code == 0 and "CZR" in opted.output
    lent = run("library", "checkout", card.card_no, "CZLIB-0007")
    assert lent.exit_code == 0, lent.output
    assert "CZLIB-0007" in run("library", "loans").output
    assert "may borrow" in run("library", "patron", card.card_no).output
    refused = run("library", "checkout", card.card_no, "NO-SUCH")
    assert refused.exit_code == 1 and "library_item_not_found" in refused.output
    assert run("library", "checkin", "CZLIB-0007").exit_code == 0
