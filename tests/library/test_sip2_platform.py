"""The SIP2 server on the platform, end to end over loopback TCP with the Sip2 client: the
platform's patron authority, the reference library system and the platform's kiosk logins on
the test database. A holder who opted in borrows at the kiosk with the card; the card is
formally lost; the kiosk refuses it with a screen message; the loan stays the reader's."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import timedelta

import pysip2
import pytest
from Sip2.sip2 import Sip2
from sqlalchemy import select

from tests.banking.helpers import act
from tests.conftest import PASSWORD
from tests.library.conftest import ADMIN, holder, kiosk_client, person_with_card
from yikatong.audit.models import AuditRecord
from yikatong.auth.service import create_user
from yikatong.cards import service as cards
from yikatong.core.actor import Role
from yikatong.library import service
from yikatong.library.sip2.server import platform_backend, running
from yikatong.library.sip2.session import Sip2Config

pytestmark = pytest.mark.db

LOST = "此卡已挂失或不可用，不能借阅，请到服务台咨询"


def add_login(platform, username: str, branch: str, role: Role = Role.LIBRARIAN) -> None:
    with platform.uow() as uow:
        create_user(uow=uow, actor=ADMIN, username=username, password=PASSWORD, role=role,
                    branch_code=branch)
        uow.commit()


def ask(client: Sip2, request: str, parse) -> dict:
    raw = client.get_response(request)
    pysip2.decode_message(raw.encode("utf-8"), encoding="utf-8")  # layout and checksum
    return parse(raw)


@pytest.fixture
def kiosk(lib_platform):
    config = Sip2Config(library_code="CZLIB", library_name="常州市图书馆")
    with running(platform_backend(lib_platform, "CZLIB"), config, idle_timeout=20) as server:
        client = kiosk_client(server.port)
        yield client
        client.disconnect()


def test_kiosk_logins_are_the_librarys_own(lib_platform, kiosk):
    add_login(lib_platform, "kiosk-czlib-01", "CZLIB")
    add_login(lib_platform, "kiosk-wjlib-01", "WJLIB")          # another library's kiosk
    add_login(lib_platform, "venue-czlib", "CZLIB", Role.VENUE_OPERATOR)
    for login in ("kiosk-wjlib-01", "venue-czlib"):
        refused = ask(kiosk, kiosk.sip_login_request(login, PASSWORD), kiosk.sip_login_response)
        assert refused["fixed"]["Ok"] == "0"
    ok = ask(kiosk, kiosk.sip_login_request("kiosk-czlib-01", PASSWORD), kiosk.sip_login_response)
    assert ok["fixed"]["Ok"] == "1"
    with lib_platform.uow(read_only=True) as uow:
        logins = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "library.sip2_login")).scalars().all()
    assert [(r.actor_id, r.after["location"]) for r in logins] == [("kiosk-czlib-01", "CZLIB-KIOSK-01")]
    assert PASSWORD not in repr([r.after for r in logins])


def test_a_reader_borrows_with_the_card_then_the_lost_card_is_refused(lib_platform, kiosk):
    ssn, person_id, card, reader = person_with_card(lib_platform)
    add_login(lib_platform, "kiosk-czlib-01", "CZLIB")
    assert ask(kiosk, kiosk.sip_login_request("kiosk-czlib-01", PASSWORD),
               kiosk.sip_login_response)["fixed"]["Ok"] == "1"

    kiosk.patron = card.card_no
    status = ask(kiosk, kiosk.sip_patron_status_request(), kiosk.sip_patron_status_response)
    assert status["fixed"]["PatronStatus"] == " " * 14
    assert status["variable"]["BL"] == ["Y"] and status["variable"]["AE"] == ["张*者"]
    out = ask(kiosk, kiosk.sip_checkout_request("CZLIB-0001"), kiosk.sip_checkout_response)
    assert out["fixed"]["Ok"] == "1", out
    assert out["variable"]["AH"] == [(lib_platform.clock.now() + timedelta(hours=8)).date()
                                     .__add__(timedelta(days=30)).isoformat()]
    ask(kiosk, kiosk.sip_end_patron_session_request(), kiosk.sip_end_patron_session_response)

    act(lib_platform, cards.report_loss, actor=holder(person_id), card_no=card.card_no,
        kind="formal", function="hr")
    lib_platform.clock.advance(timedelta(minutes=5))

    status = ask(kiosk, kiosk.sip_patron_status_request(), kiosk.sip_patron_status_response)
    assert status["fixed"]["PatronStatus"].startswith("YYYY") and LOST in status["variable"]["AF"]
    refused = ask(kiosk, kiosk.sip_checkout_request("CZLIB-0002"), kiosk.sip_checkout_response)
    assert refused["fixed"]["Ok"] == "0" and refused["variable"]["AF"][0] == LOST
    renew = ask(kiosk, kiosk.sip_renew_request("CZLIB-0001"), kiosk.sip_renew_response)
    assert renew["fixed"]["Ok"] == "0" and LOST in renew["variable"]["AF"]

    # The loan is the reader's, not the card's: the library still has it, and it comes back
    # at the kiosk without any card.
    with lib_platform.uow(read_only=True) as uow:
        loans = service.account(uow=uow, reader_no=reader.reader_no, now=lib_platform.clock.now()).loans
    assert [loan.item_barcode for loan in loans] == ["CZLIB-0001"]
    back = ask(kiosk, kiosk.sip_checkin_request("CZLIB-0001"), kiosk.sip_checkin_response)
    assert back["fixed"]["Ok"] == "1"
    with lib_platform.uow(read_only=True) as uow:
        actions = uow.session.execute(select(AuditRecord.action, AuditRecord.actor_id).where(
            AuditRecord.action.in_(("library.checkout", "library.checkin")))
            .order_by(AuditRecord.id)).all()
    assert [tuple(row) for row in actions] == [("library.checkout", "sip2:CZLIB"),
                                              ("library.checkin", "sip2:CZLIB")]


def test_fees_are_paid_at_the_kiosk_and_a_repeat_is_not_paid_twice(lib_platform, kiosk):
    ssn, person_id, card, reader = person_with_card(lib_platform)
    add_login(lib_platform, "kiosk-czlib-01", "CZLIB")
    ask(kiosk, kiosk.sip_login_request("kiosk-czlib-01", PASSWORD), kiosk.sip_login_response)
    fee = act(lib_platform, service.charge_fee, actor=ADMIN, reader_no=reader.reader_no,
              amount_fen=1500, reason="damaged", item_barcode="CZLIB-0003")
    kiosk.patron = ssn
    info = ask(kiosk, kiosk.sip_patron_information_request("fine"),
               kiosk.sip_patron_information_response)
    assert info["variable"]["BV"] == ["15.00"]
    assert info["variable"]["AV"] == [f"{fee.fee_id} 15.00 damaged CZLIB-0003"]
    request = kiosk.sip_fee_paid_request(3, 0, "15.00", fee.fee_id, "KIOSK1-0001", currencyType="CNY")
    paid = ask(kiosk, request, kiosk.sip_fee_paid_response)
    assert paid["fixed"]["PaymentAccepted"] == "Y"
    again = kiosk.sip_fee_paid_request(3, 0, "15.00", fee.fee_id, "KIOSK1-0001", currencyType="CNY")
    assert ask(kiosk, again, kiosk.sip_fee_paid_response)["fixed"]["PaymentAccepted"] == "Y"
    with lib_platform.uow(read_only=True) as uow:
        account = service.account(uow=uow, reader_no=reader.reader_no, now=lib_platform.clock.now())
        paid_records = uow.session.execute(select(AuditRecord).where(
            AuditRecord.action == "library.fee_paid")).scalars().all()
    assert account.fees_owed_fen == 0 and len(paid_records) == 1


def test_ykt_library_sip2_serve(lib_platform, tmp_path):
    """The command as an operator runs it: a process on the test database, a kiosk logs in
    and asks about a reader, Ctrl-C stops it."""
    _, _, card, _ = person_with_card(lib_platform)
    add_login(lib_platform, "kiosk-czlib-01", "CZLIB")
    env = {**os.environ, "YKT_DATABASE_URL": lib_platform.settings.database_url, "COLUMNS": "250",
           "YKT_KEY_STORE": str(tmp_path / "keystore.json")}   # its development keys, not the tree's
    process = subprocess.Popen(
        [sys.executable, "-m", "yikatong.cli.main", "library", "sip2-serve", "--library", "CZLIB",
         "--port", "0", "--name", "常州市图书馆"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        started = process.stdout.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)", started).group(1))
        client = kiosk_client(port)
        assert ask(client, client.sip_login_request("kiosk-czlib-01", PASSWORD),
                   client.sip_login_response)["fixed"]["Ok"] == "1"
        status = ask(client, client.sip_sc_status_request(), client.sip_sc_status_response)
        assert status["variable"]["AM"] == ["常州市图书馆"]
        client.patron = card.card_no
        patron = ask(client, client.sip_patron_status_request(), client.sip_patron_status_response)
        assert patron["variable"]["BL"] == ["Y"] and patron["variable"]["AE"] == ["张*者"]
        client.disconnect()
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "stopped / 已停止" in out
    assert PASSWORD not in out + err and card.card_no not in out + err   # nothing secret logged


def test_guessing_a_kiosk_password_is_throttled_across_connections(lib_platform):
    add_login(lib_platform, "kiosk-czlib-01", "CZLIB")
    config = Sip2Config(library_code="CZLIB")
    with running(platform_backend(lib_platform, "CZLIB"), config, idle_timeout=20) as server:
        def attempts(passwords):
            client = kiosk_client(server.port, location=None)
            answers = [ask(client, client.sip_login_request("kiosk-czlib-01", password),
                           client.sip_login_response)["fixed"]["Ok"] for password in passwords]
            client._socket.close()
            client._socket = None
            return answers

        for _ in range(3):   # a connection closes after three refusals: the guesser reconnects
            assert attempts(["guess-1", "guess-2", "guess-3"]) == ["0", "0", "0"]
        assert attempts(["guess-10", PASSWORD]) == ["0", "0"]   # 10 failures: the name is locked
        lib_platform.clock.advance(timedelta(minutes=16))
        assert attempts([PASSWORD]) == ["1"]
