"""The SIP2 server over loopback TCP, driven by a SIP2 client nobody here wrote (the `Sip2`
package, SIP2-Client-for-Python), against in-memory PatronAuthority / LibrarySystem fakes.

Every response is also decoded by pysip2 (another independent implementation, strict about
layouts), which checks its AZ checksum: the Sip2 client's own check accepts anything.
"""

from __future__ import annotations

import socket
from datetime import UTC, date, datetime

import pysip2
import pytest
from Sip2.sip2 import Sip2

from tests.library.conftest import kiosk_client
from tests.library.sip2_fakes import (
    KIOSK_LOGIN,
    KIOSK_PASSWORD,
    FakeAccounts,
    FakeAuthority,
    FakeLibrary,
)
from yikatong.core.clock import FixedClock
from yikatong.library.protocols import Fee, Patron, PatronBlock
from yikatong.library.sip2 import codec
from yikatong.library.sip2.server import running
from yikatong.library.sip2.session import Sip2Backend, Sip2Config

CARD, LOST_CARD, SSN, OUTSIDER = "CZ00000001", "CZ00000002", "320402199001010013", "CZ00000099"


@pytest.fixture
def world():
    clock = FixedClock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))   # 10:00 in Changzhou
    reader = Patron(reader_no="R000001", person_id=1, display_name="张*丰", presented="card",
                    card_no=CARD)
    authority = FakeAuthority({
        CARD: reader,
        SSN: Patron("R000001", 1, "张*丰", "ssn", None),
        LOST_CARD: Patron("R000001", 1, "张*丰", "card", LOST_CARD,
                          blocks=(PatronBlock.CARD_NOT_USABLE,)),
        OUTSIDER: Patron("", 2, "李*", "card", OUTSIDER, blocks=(PatronBlock.NOT_A_READER,)),
    })
    library = FakeLibrary()
    library.add_item("B0001", "围城")
    library.add_item("B0002", "边城")
    backend = Sip2Backend(authority=authority, library=library, accounts=FakeAccounts(),
                          clock=clock)
    config = Sip2Config(library_code="CZLIB", library_name="常州市图书馆")
    with running(backend, config, idle_timeout=10) as server:
        yield server, authority, library


@pytest.fixture
def kiosk(world):
    server = world[0]
    client = kiosk_client(server.port)
    yield client
    try:
        client.disconnect()
    except OSError:  # the server closed it (the refused-login test)
        client._socket = None


def ask(client: Sip2, request: str, parse) -> dict:
    """Send one request, check the raw response with pysip2 (layout and checksum), return the
    Sip2 client's parse of it."""
    raw = client.get_response(request)
    pysip2.decode_message(raw.encode("utf-8"), encoding="utf-8")  # raises if malformed
    assert raw.endswith("\r") and "AZ" in raw[-8:]
    return parse(raw)


def login(client: Sip2, password: str = KIOSK_PASSWORD) -> dict:
    return ask(client, client.sip_login_request(KIOSK_LOGIN, password), client.sip_login_response)


def screen(parsed: dict) -> list[str]:
    return parsed["variable"].get("AF", [])


def test_login_then_status_lists_the_supported_messages(kiosk):
    assert login(kiosk)["fixed"]["Ok"] == "1"
    status = ask(kiosk, kiosk.sip_sc_status_request(), kiosk.sip_sc_status_response)
    assert status["fixed"]["OnlineStatus"] == "Y"
    assert status["fixed"]["CheckoutOk"] == "Y" and status["fixed"]["CheckinOk"] == "Y"
    assert status["fixed"]["ProtocolVersion"] == "2.00"
    assert status["variable"]["AO"] == ["CZLIB"]
    assert status["variable"]["AM"] == ["常州市图书馆"]
    # patron status, checkout, checkin, status, resend, login, patron info, end session, fee
    # paid, item info, renew,
    # renew all: Y; block patron, item status update, patron enable, hold: N
    assert status["variable"]["BX"] == ["YYYNYYYYYYYNNNYY"]
    assert status["variable"]["AN"] == ["CZLIB-KIOSK-01"]


def test_a_wrong_password_is_refused_and_the_third_closes_the_connection(kiosk, world):
    for _ in range(3):
        assert login(kiosk, "wrong-password")["fixed"]["Ok"] == "0"
    try:  # the server closed the connection after its third answer
        left = kiosk._socket.recv(100)
    except ConnectionResetError:
        left = b""
    assert left == b""
    assert world[0].backend.accounts.attempts == [KIOSK_LOGIN] * 3


def test_nothing_but_status_is_answered_before_login(world):
    server = world[0]
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(b"9900802.00\r")
        status = raw.recv(4096)
        assert status.startswith(b"98N")   # not logged in: on-line status N
        raw.sendall(b"23000" + b"20260302    100000" + f"AOCZLIB|AA{CARD}|AC|AD|\r".encode())
        assert raw.recv(4096) == b""       # closed, nothing said about the patron
    assert world[1].calls == []


def test_patron_status_and_information(kiosk, world):
    login(kiosk)
    library = world[2]
    library.fees["R000001"] = [Fee("F1", 250, "overdue", "B0009")]
    kiosk.patron = CARD
    status = ask(kiosk, kiosk.sip_patron_status_request(), kiosk.sip_patron_status_response)
    assert status["fixed"]["PatronStatus"] == " " * 14
    assert status["variable"]["AE"] == ["张*丰"] and status["variable"]["BL"] == ["Y"]
    assert status["variable"]["BV"] == ["2.50"] and status["variable"]["BH"] == ["CNY"]

    ask(kiosk, kiosk.sip_checkout_request("B0001"), kiosk.sip_checkout_response)
    info = ask(kiosk, kiosk.sip_patron_information_request("charged"),
               kiosk.sip_patron_information_response)
    assert info["variable"]["AU"] == ["B0001"]
    assert info["variable"]["CB"] == ["0005"]
    fines = ask(kiosk, kiosk.sip_patron_information_request("fine"),
                kiosk.sip_patron_information_response)
    assert fines["variable"]["AV"] == ["F1 2.50 overdue B0009"]


def test_checkout_renew_checkin(kiosk, world):
    library = world[2]
    login(kiosk)
    kiosk.patron = CARD
    out = ask(kiosk, kiosk.sip_checkout_request("B0001"), kiosk.sip_checkout_response)
    assert out["fixed"]["Ok"] == "1" and out["fixed"]["Desensitize"] == "Y"
    assert out["variable"]["AJ"] == ["围城"]
    assert out["variable"]["AH"] == ["2026-04-01"]              # 30 days from 2 March
    assert library.items["B0001"].on_loan_to == "R000001"

    again = ask(kiosk, kiosk.sip_checkout_request("B0001"), kiosk.sip_checkout_response)
    assert again["fixed"]["Ok"] == "0" and "该书已借出" in screen(again)

    renewed = ask(kiosk, kiosk.sip_renew_request("B0001"), kiosk.sip_renew_response)
    assert renewed["fixed"]["Ok"] == "1" and renewed["fixed"]["RenewalOk"] == "Y"
    assert renewed["variable"]["AH"] == ["2026-05-01"]
    twice = ask(kiosk, kiosk.sip_renew_request("B0001"), kiosk.sip_renew_response)
    assert twice["fixed"]["Ok"] == "0" and "Already renewed once" in screen(twice)

    item = ask(kiosk, kiosk.sip_item_information_request("B0001"),
               kiosk.sip_item_information_response)
    assert item["fixed"]["CirculationStatus"] == "04" and item["variable"]["AH"] == ["2026-05-01"]

    back = ask(kiosk, kiosk.sip_checkin_request("B0001"), kiosk.sip_checkin_response)
    assert back["fixed"]["Ok"] == "1" and back["fixed"]["Resensitize"] == "Y"
    assert back["variable"]["AQ"] == ["总馆二楼"] and back["variable"]["AJ"] == ["围城"]
    assert library.items["B0001"].on_loan_to is None
    assert [change[0] for change in library.changes] == ["checkout", "renew", "checkin"]
    assert library.changes[-1][3] == "CZLIB-KIOSK-01"           # AP, where it was returned


def test_renew_all(kiosk, world):
    library = world[2]
    login(kiosk)
    kiosk.patron = CARD
    for barcode in ("B0001", "B0002"):
        ask(kiosk, kiosk.sip_checkout_request(barcode), kiosk.sip_checkout_response)
    ask(kiosk, kiosk.sip_renew_request("B0001"), kiosk.sip_renew_response)   # its one renewal
    everything = ask(kiosk, kiosk.sip_renew_all_request(), kiosk.sip_renew_all_response)
    assert everything["fixed"]["Ok"] == "1"
    assert everything["fixed"]["RenewedItems"] == "0001"
    assert everything["fixed"]["UnrenewedItems"] == "0001"
    assert everything["variable"]["BM"] == ["B0002"] and everything["variable"]["BN"] == ["B0001"]
    kiosk.patron = LOST_CARD
    refused = ask(kiosk, kiosk.sip_renew_all_request(), kiosk.sip_renew_all_response)
    assert refused["fixed"]["Ok"] == "0" and "This card is reported lost or not usable: it cannot borrow" in screen(refused)
    assert [change[0] for change in library.changes].count("renew") == 2


def test_the_ssn_works_as_the_patron_identifier(kiosk, world):
    login(kiosk)
    kiosk.patron = SSN
    out = ask(kiosk, kiosk.sip_checkout_request("B0002"), kiosk.sip_checkout_response)
    assert out["fixed"]["Ok"] == "1"
    assert world[2].items["B0002"].on_loan_to == "R000001"


def test_a_lost_card_is_refused_with_a_screen_message(kiosk, world):
    library = world[2]
    login(kiosk)
    kiosk.patron = LOST_CARD
    status = ask(kiosk, kiosk.sip_patron_status_request(), kiosk.sip_patron_status_response)
    assert status["fixed"]["PatronStatus"].startswith("YYYY")   # charge, renew, recall, hold denied
    assert "此卡已挂失或不可用，不能借阅，请到服务台咨询" in screen(status)
    out = ask(kiosk, kiosk.sip_checkout_request("B0001"), kiosk.sip_checkout_response)
    assert out["fixed"]["Ok"] == "0"
    assert screen(out) == ["此卡已挂失或不可用，不能借阅，请到服务台咨询",
                           "This card is reported lost or not usable: it cannot borrow"]
    renew = ask(kiosk, kiosk.sip_renew_request("B0001"), kiosk.sip_renew_response)
    assert renew["fixed"]["Ok"] == "0"
    assert library.changes == []                                # the library was never asked


def test_a_holder_who_has_not_opted_in_and_an_unknown_patron(kiosk, world):
    login(kiosk)
    kiosk.patron = OUTSIDER
    status = ask(kiosk, kiosk.sip_patron_status_request(), kiosk.sip_patron_status_response)
    assert status["variable"]["BL"] == ["N"] and "该持卡人尚未开通读者证，请先开通" in screen(status)
    kiosk.patron = "CZ-NOBODY"
    nobody = ask(kiosk, kiosk.sip_checkout_request("B0001"), kiosk.sip_checkout_response)
    assert nobody["fixed"]["Ok"] == "0" and "Patron not found" in screen(nobody)


def test_fee_paid_and_end_session(kiosk, world):
    library = world[2]
    library.fees["R000001"] = [Fee("F1", 250, "overdue", "B0009")]
    login(kiosk)
    kiosk.patron = CARD
    wrong = ask(kiosk, kiosk.sip_fee_paid_request(4, 0, "2.50", "F1", "T-1"),
                kiosk.sip_fee_paid_response)                    # the client's default is EUR
    assert wrong["fixed"]["PaymentAccepted"] == "N" and "Only CNY is accepted" in screen(wrong)
    paid = ask(kiosk, kiosk.sip_fee_paid_request(4, 0, "2.50", "F1", "T-1", currencyType="CNY"),
               kiosk.sip_fee_paid_response)
    assert paid["fixed"]["PaymentAccepted"] == "Y" and paid["variable"]["BK"] == ["T-1"]
    assert library.changes == [("pay_fee", "R000001", 250, "T-1")]
    bad = ask(kiosk, kiosk.sip_fee_paid_request(4, 0, "2.5.0", "F1", "T-2", currencyType="CNY"),
              kiosk.sip_fee_paid_response)
    assert bad["fixed"]["PaymentAccepted"] == "N"
    end = ask(kiosk, kiosk.sip_end_patron_session_request(), kiosk.sip_end_patron_session_response)
    assert end["fixed"]["EndSession"] == "Y"


def test_a_bad_checksum_gets_96_and_changes_nothing(kiosk, world):
    library = world[2]
    login(kiosk)
    kiosk.patron = CARD
    request = kiosk.sip_checkout_request("B0001")
    body, digits = request[:-5], request[-5:-1]
    corrupted = body + f"{(int(digits, 16) + 1) & 0xFFFF:04X}\r"
    assert kiosk.get_response(corrupted) == "96AZFEF6\r"
    assert library.changes == []
    # The kiosk sends it again, intact: done once.
    out = ask(kiosk, request, kiosk.sip_checkout_response)
    assert out["fixed"]["Ok"] == "1" and len(library.changes) == 1


def test_a_repeated_sequence_number_is_answered_again_not_done_twice(kiosk, world):
    library = world[2]
    login(kiosk)
    kiosk.patron = CARD
    request = kiosk.sip_checkout_request("B0001")
    first = kiosk.get_response(request)
    assert kiosk.get_response(request) == first           # the kiosk missed our answer
    assert [change[0] for change in library.changes] == ["checkout"]
    # 97: the last response again
    assert kiosk.get_response(kiosk.sip_sc_resend_request()) == first


def test_responses_carry_the_request_sequence_number_and_a_valid_checksum(kiosk):
    login(kiosk)
    for _ in range(12):   # the client's sequence wraps from 9 to 0
        request = kiosk.sip_sc_status_request()
        sequence = request[request.rindex("AY") + 2]
        raw = kiosk.get_response(request)
        decoded = pysip2.decode_message(raw.encode("utf-8"), encoding="utf-8")
        assert decoded.sequence_number == int(sequence)
        body = raw[:-1].encode("utf-8")
        assert codec.checksum_ok(body[:-4], body[-4:])


def test_a_failure_behind_the_kiosk_is_a_refusal_with_a_message(kiosk, world, caplog):
    library = world[2]
    login(kiosk)
    kiosk.patron = CARD

    def broken(*args, **kwargs):
        raise RuntimeError("the library system is down")

    library.checkout = broken
    out = ask(kiosk, kiosk.sip_checkout_request("B0001"), kiosk.sip_checkout_response)
    assert out["fixed"]["Ok"] == "0"
    assert screen(out) == ["系统暂时无法办理，请到服务台",
                           "The system cannot do this now: please ask at the desk"]
    library.account = broken
    info = ask(kiosk, kiosk.sip_patron_information_request("charged"),
               kiosk.sip_patron_information_response)
    assert info["variable"]["BL"] == ["N"] and "系统暂时无法办理，请到服务台" in screen(info)
    assert "the library system is down" in caplog.text and CARD not in caplog.text


def test_a_failed_login_ends_the_earlier_one(kiosk, world):
    login(kiosk)
    assert login(kiosk, "wrong-password")["fixed"]["Ok"] == "0"
    status = ask(kiosk, kiosk.sip_sc_status_request(), kiosk.sip_sc_status_response)
    assert status["fixed"]["OnlineStatus"] == "N"


# --- the codec alone ------------------------------------------------------------------------

def test_codec_reads_an_unpadded_checksum_and_answers_without_error_detection():
    body = b"9900802.00AY3AZ"
    digits = f"{(-sum(body)) & 0xFFFF:X}"
    frame = codec.decode(body + digits.encode() + b"\r")
    assert frame.sequence == 3 and frame.fixed["protocol_version"] == "2.00"
    plain = codec.decode(b"11NN20260302    100000" + b" " * 18 + b"AOCZLIB|AAX|ABB1|AC|\r")
    assert plain.checksum is None and plain.fixed["nb_due_date"] == " " * 18
    assert plain.get("AB") == "B1"
    assert codec.encode("94", ["1"], []) == b"941\r"
    with pytest.raises(codec.ChecksumMismatch):
        codec.decode(b"9900802.00AY3AZ0000\r")
    no_date = codec.decode(b"65AOCZLIB|AAX|\r")    # the Sip2 client's renew all
    assert no_date.fixed["transaction_date"] == " " * 18 and no_date.get("AA") == "X"
    with pytest.raises(codec.UnknownCommand):
        codec.decode(b"XX\r")


def test_codec_dates_are_beijing_time_unless_marked_utc():
    assert codec.parse_date("20260302    100000") == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert codec.parse_date("20260302   Z100000") == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert codec.parse_date(" " * 18) is None
    assert codec.format_date(datetime(2026, 3, 2, 2, 0, tzinfo=UTC)) == "20260302    100000"


def test_field_values_cannot_break_the_frame():
    line = codec.encode("24", [" " * 14, "000", "20260302    100000"],
                        [("AO", "CZLIB"), ("AA", "X"), ("AE", "a|b\rc"), ("AF", "长" * 200)], sequence=1,
                        error_detection=True)
    assert line.count(b"\r") == 1
    assert b"AEa/b c|" in line
    assert len(line.split(b"AF")[1].split(b"|")[0]) <= 255
    pysip2.decode_message(line, encoding="utf-8")


def test_kiosk_time_is_used_only_near_the_platform_clock(world):
    from yikatong.library.sip2.session import KioskSession

    server = world[0]
    session = KioskSession(server.backend, server.config)
    near = codec.decode(b"11NN20260302    100200" + b" " * 18 + b"AOCZLIB|AAX|ABB1|AC|\r")
    far = codec.decode(b"11NN20260301    100000" + b" " * 18 + b"AOCZLIB|AAX|ABB1|AC|\r")
    offline = codec.decode(b"11NY20260301    100000" + b" " * 18 + b"AOCZLIB|AAX|ABB1|AC|\r")
    now = server.backend.clock.now()
    assert session._when(near) == datetime(2026, 3, 2, 2, 2, tzinfo=UTC)
    assert session._when(far) == now
    assert session._when(offline) == datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
    assert date(2026, 3, 2) == now.date()
