"""The e-card QR at the SIP2 kiosk: the code the holder shows resolves to their reader, and the
patron session keeps the reader after the code's 60 seconds (the patron borrows for a while),
but only for the session: a new code is needed after it ends."""

from __future__ import annotations

from datetime import timedelta

import pysip2
import pytest
from Sip2.sip2 import Sip2

from tests.conftest import PASSWORD
from tests.ecard.conftest import applied, chip_directory, holder, quick_argon2  # noqa: F401
from tests.library.conftest import kiosk_client
from tests.library.test_sip2_platform import add_login
from yikatong.core.actor import Actor
from yikatong.library import service
from yikatong.library.sip2.server import platform_backend, running
from yikatong.library.sip2.session import Sip2Config

pytestmark = pytest.mark.db


def ask(client: Sip2, request: str, parse) -> dict:
    raw = client.get_response(request)
    pysip2.decode_message(raw.encode("utf-8"), encoding="utf-8")
    return parse(raw)


def test_an_ecard_code_borrows_at_the_kiosk(platform, holder):  # noqa: F811
    person = holder()
    person.do(service.opt_in)
    with platform.uow() as uow:
        service.load_reference_data(uow=uow, actor=Actor.system("test"))
    add_login(platform, "kiosk-czlib-01", "CZLIB")
    token = person.qr()
    assert len(token) < 255   # fits one SIP2 field
    with running(platform_backend(platform, "CZLIB"), Sip2Config(library_code="CZLIB"),
                 idle_timeout=20) as server:
        client = kiosk_client(server.port, location=None)
        ask(client, client.sip_login_request("kiosk-czlib-01", PASSWORD), client.sip_login_response)
        client.patron = token
        status = ask(client, client.sip_patron_status_request(), client.sip_patron_status_response)
        assert status["variable"]["BL"] == ["Y"] and status["fixed"]["PatronStatus"] == " " * 14
        platform.clock.advance(timedelta(seconds=90))   # the code has expired meanwhile
        out = ask(client, client.sip_checkout_request("CZLIB-0004"), client.sip_checkout_response)
        assert out["fixed"]["Ok"] == "1", out
        ask(client, client.sip_end_patron_session_request(), client.sip_end_patron_session_response)
        again = ask(client, client.sip_checkout_request("CZLIB-0005"), client.sip_checkout_response)
        assert again["fixed"]["Ok"] == "0" and "Patron not found" in again["variable"]["AF"]
        client.disconnect()
