"""T=0 response handling of the PC/SC reader (61xx chaining, 6Cxx re-send, T=1 passthrough)
against a replayed T=0 card; no pcscd needed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.readers.fakes import T0Connection
from yikatong.readers.errors import CardCommunicationError
from yikatong.readers.pcsc import MAX_T0_ROUNDS, PcscReader, transmit_t0, with_le

READ_BINARY = bytes.fromhex("00B0000000")  # case 2, Le = 256
UPDATE_AND_READ = bytes.fromhex("80CA00000401020304") + b"\x00"  # case 4


def connected(connection: T0Connection) -> PcscReader:
    reader = PcscReader("fake T=0", connection=connection)
    assert reader.connect() == bytes(connection.getATR())
    return reader


def test_wrong_le_is_resent_with_the_length_the_card_asked_for():
    payload = bytes(range(0x17))
    connection = T0Connection(payload)
    reader = connected(connection)

    assert reader.transmit(READ_BINARY) == payload + b"\x90\x00"
    assert connection.sent == [READ_BINARY, with_le(READ_BINARY, len(payload))]


def test_61xx_is_fetched_with_get_response_and_concatenated():
    payload = bytes(range(256)) * 2 + b"tail"
    connection = T0Connection(payload, chunk=200)
    reader = connected(connection)

    assert reader.transmit(UPDATE_AND_READ) == payload + b"\x90\x00"
    get_responses = connection.sent[1:]
    assert all(apdu[:4] == bytes.fromhex("00C00000") for apdu in get_responses)
    full, rest = divmod(len(payload), 200)
    assert [apdu[4] for apdu in get_responses] == [200] * full + [rest]


@settings(max_examples=100, deadline=None)
@given(payload=st.binary(min_size=1, max_size=700), chunk=st.integers(1, 256))
def test_any_chunking_yields_the_whole_response(payload, chunk):
    reader = connected(T0Connection(payload, chunk=chunk))
    assert reader.transmit(UPDATE_AND_READ) == payload + b"\x90\x00"


def test_t1_is_passed_through_untouched():
    connection = T0Connection(b"abc", protocol=2)
    reader = connected(connection)

    assert reader.protocol == "T=1"
    assert reader.transmit(UPDATE_AND_READ) == b"\x61\x03"
    assert connection.sent == [UPDATE_AND_READ]


@pytest.mark.parametrize(
    ("apdu", "expected"),
    [
        ("00A40000", "00A4000017"),  # case 1: Le appended
        ("00B0000000", "00B0000017"),  # case 2: Le replaced
        ("00A4000002EF05", "00A4000002EF0517"),  # case 3: Le appended
        ("00A4000002EF0500", "00A4000002EF0517"),  # case 4: Le replaced
    ],
)
def test_with_le_covers_the_four_short_cases(apdu, expected):
    assert with_le(bytes.fromhex(apdu), 0x17) == bytes.fromhex(expected)


@pytest.mark.parametrize("apdu", ["00A400", "00A4000005EF05", "00A4000000000201"])
def test_with_le_rejects_what_is_not_a_short_apdu(apdu):
    with pytest.raises(ValueError):
        with_le(bytes.fromhex(apdu), 1)


def test_a_card_that_chains_forever_is_an_error_not_a_hang():
    class Runaway(T0Connection):
        def transmit(self, command):
            self.sent.append(bytes(command))
            return [0x78], 0x61, 0x01

    connection = Runaway(b"")
    reader = connected(connection)
    with pytest.raises(CardCommunicationError) as caught:
        reader.transmit(UPDATE_AND_READ)
    assert len(connection.sent) == MAX_T0_ROUNDS
    assert UPDATE_AND_READ.hex() not in str(caught.value).lower()  # no APDU in errors


def test_a_response_without_status_word_is_rejected():
    with pytest.raises(ValueError, match="status word"):
        transmit_t0(lambda apdu: b"\x90", READ_BINARY)


def test_transmit_needs_a_connected_card_and_disconnect_releases_it():
    connection = T0Connection(b"abc")
    reader = PcscReader("fake T=0", connection=connection)
    with pytest.raises(CardCommunicationError):
        reader.transmit(READ_BINARY)
    with reader:
        assert connection.connected
        reader.connect()  # a second connect is a cold reset, not a second handle
        assert connection.connected and connection.connects == 2
    assert not connection.connected
    with pytest.raises(CardCommunicationError):
        reader.transmit(READ_BINARY)
