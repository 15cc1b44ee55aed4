"""The real PC/SC stack for tests marked `pcsc`: pcscd with the vpcd virtual reader.

Where pcscd/vpcd are missing the pcsc tests are skipped with the reason and the fix; with
YKT_REQUIRE_PCSC=1 (CI) they fail instead, so a broken set-up cannot pass unnoticed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import servers
from yikatong.readers.vpcd import (
    DEFAULT_PORT,
    REINSERT_SECONDS,
    VPCD_READER_NAME,
    ServedCard,
    serve_until_stopped,
)

HOW_TO_INSTALL = (
    "pcscd/vpcd are not installed or not running; install and start them with "
    "scripts/pcsc-up.sh (Debian packages pcscd vsmartcard-vpcd swig libpcsclite-dev "
    "pcsc-tools opensc, as root) and the extra `pip install -e .[pcsc]` (pyscard)"
)
SLOT_LOCK = Path(tempfile.gettempdir()) / f"ykt-vpcd-{DEFAULT_PORT}.lock"


def _missing_pcsc_stack() -> str | None:
    """Why the pcsc suite cannot run here, or None when it can."""
    try:
        import smartcard  # noqa: F401
    except ImportError:
        return "pyscard is not installed"
    if shutil.which("pcscd") is None:
        return "pcscd is not installed"
    from yikatong.readers.errors import PcscUnavailable
    from yikatong.readers.pcsc import list_readers

    try:
        readers = list_readers()
    except PcscUnavailable:
        return "pcscd is not running"
    if VPCD_READER_NAME not in readers:
        return f"pcscd does not list the vpcd reader '{VPCD_READER_NAME}' (readers: {readers})"
    try:
        socket.create_connection(("127.0.0.1", DEFAULT_PORT), timeout=2).close()
    except OSError:
        return f"vpcd does not listen on port {DEFAULT_PORT}"
    return None


@pytest.fixture(scope="session")
def pcsc_stack() -> str:
    """The name of vpcd's reader, once pcscd and vpcd are known to answer."""
    problem = _missing_pcsc_stack()
    if problem is not None:
        message = f"{problem}: {HOW_TO_INSTALL}"
        servers.suite_did_not_run("PC/SC reader suite", message)
        if os.environ.get("YKT_REQUIRE_PCSC") == "1":
            pytest.fail(f"YKT_REQUIRE_PCSC=1 but {message}", pytrace=False)
        pytest.skip(message)
    servers.USED["PC/SC reader suite"] = f"pcscd with the vpcd reader '{VPCD_READER_NAME}'"
    return VPCD_READER_NAME


@contextmanager
def _vpcd_slot(timeout: float = 60.0) -> Iterator[None]:
    """One card in vpcd's first slot at a time, across processes (two suites running at
    once on this machine would otherwise queue behind each other's card)."""
    with open(SLOT_LOCK, "w") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"vpcd slot busy for {timeout:.0f} s ({SLOT_LOCK})")
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def card_in_vpcd(
    card: ServedCard,
    *,
    after_command: Callable[[], None] | None = None,
    retry_seconds: float = REINSERT_SECONDS,
) -> Iterator[dict]:
    """Insert `card` into vpcd from a thread (what `ykt card insert` does) and wait until
    pcscd reports it; pull it out on exit. A card that goes silent (a tear) is re-inserted
    after `retry_seconds`. Yields the session totals once finished."""
    from yikatong.readers.pcsc import PcscReader

    stop = threading.Event()
    result: dict = {}

    def serve() -> None:
        try:
            result["stats"] = serve_until_stopped(
                card, stop=stop, after_command=after_command, retry_seconds=retry_seconds
            )
        except Exception as error:  # surfaced by the waiting loop below
            result["error"] = error

    with _vpcd_slot():
        thread = threading.Thread(target=serve, name="vpcd-card", daemon=True)
        thread.start()
        probe = PcscReader(VPCD_READER_NAME)
        try:
            probe.wait_for_card(timeout=10)
            probe.disconnect()
        except Exception as error:
            stop.set()
            thread.join(5)
            raise result.get("error") or AssertionError("pcscd never saw the card") from error
        try:
            yield result
        finally:
            stop.set()
            thread.join(10)
            _wait_until_removed()


def _wait_until_removed(timeout: float = 5.0) -> None:
    """pcscd notices a pulled card at its next poll; the next test must not see this one,
    and must not insert its own before pcscd has settled (see vpcd.REINSERT_SECONDS)."""
    from yikatong.readers.errors import CardCommunicationError, NoCardInReader
    from yikatong.readers.pcsc import PcscReader

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reader = PcscReader(VPCD_READER_NAME)
        try:
            reader.connect()
            reader.disconnect()
        except NoCardInReader:
            break
        except CardCommunicationError:  # "card is unpowered" while pcscd sees it leave
            pass
        time.sleep(0.1)
    # After opensc-tool, a card inserted at once was never reported (0.5 s later it was).
    time.sleep(REINSERT_SECONDS)


@pytest.fixture(scope="session")
def keystore():
    from yikatong.crypto.keystore import InMemoryKeyStore

    return InMemoryKeyStore(seed=b"readers-tests")


@pytest.fixture
def chip_store(tmp_path):
    from yikatong.chip.store import DirectoryChipStore

    return DirectoryChipStore(tmp_path / "chips")


@pytest.fixture
def stored_card(keystore, chip_store) -> str:
    """The card number of a personalised card saved in `chip_store` (SM4 purse)."""
    from tests.chip.conftest import card_data
    from yikatong.chip.image import personalise

    image = personalise(card_data(42), keystore)
    chip_store.save_image(image)
    return image.card_no
