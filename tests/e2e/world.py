"""What an e2e journey needs around the running server: logins, calls that explain their
failures with the server's own traceback, citizens walked from the counter to a card in hand,
and the physical cards (chip images the factory personalised into YKT_CHIP_DIR)."""

from __future__ import annotations

import base64
import itertools
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine, create_engine, text

from yikatong.chip.bankcard import read_debit
from yikatong.chip.emulator import Card
from yikatong.chip.reader import EmulatorReader
from yikatong.chip.store import DirectoryChipStore
from yikatong.people.samples import make_citizen_ssn, make_name, make_sample_photo
from yikatong.platform_setup import DEMO_PASSWORD

API = "/api/v1"
HOLDER_PASSWORD = "Changzhou-Card-2026!"
ECARD_PASSWORD = "739164"
CJK = re.compile(r"[\u4e00-\u9fff]")
_TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^ERROR:", re.MULTILINE)


@dataclass
class Server:
    root: Path
    port: int
    log_path: Path
    env: dict[str, str]
    schema_lag: list[str] = field(default_factory=list)  # what the migrations missed, built by hand
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, mark: int) -> str:
        with self.log_path.open("rb") as log:
            log.seek(mark)
            return log.read().decode("utf-8", errors="replace")

    def tracebacks_since(self, mark: int) -> list[str]:
        """Each error the server logged since `mark`, with the lines that follow it."""
        text = self.log_since(mark)
        starts = [m.start() for m in _TRACEBACK.finditer(text)]
        return [text[start:start + 6000] for start in starts]

    def wait_for_events(self, timeout: float = 15.0) -> None:
        """Until the platform's outbox holds nothing unpublished. A request's events are
        published right after its commit, unless another dispatch is under way (the worker's,
        another request's): then that one publishes them a moment later, after the answer.
        Published means applied by the in-process consumers (the e-card, the bank)."""
        if self._engine is None:
            self._engine = create_engine(self.env["YKT_DATABASE_URL"])
        query = text("SELECT count(*) FROM outbox_events WHERE published_at IS NULL")
        deadline = time.monotonic() + timeout
        while True:
            with self._engine.connect() as connection:
                if connection.execute(query).scalar_one() == 0:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"the platform's events were not published within {timeout} s")
            time.sleep(0.02)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    @property
    def chips(self) -> DirectoryChipStore:
        return DirectoryChipStore(self.env["YKT_CHIP_DIR"])

    def keystore(self):
        """The platform's key store, opened the way the server opens it (its dev KEK file):
        what a PSAM or a bank host holds."""
        from yikatong.core.settings import Settings
        from yikatong.crypto.wiring import key_store_from_settings

        return key_store_from_settings(Settings(database_url=self.env["YKT_DATABASE_URL"],
                                                key_store_path=self.env["YKT_KEY_STORE"]))


class CallFailed(AssertionError):
    pass


def is_problem(response: httpx.Response) -> bool:
    """RFC 9457 problem+json with our stable `code`, a Chinese `title` and an English `title_en`;
    under the FHIR door (/api/fhir/) its equivalent, an OperationOutcome whose issue carries our
    code and the Chinese + English text (docs/medical-fhir.md)."""
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("application/fhir+json") and "/api/fhir/" in str(response.url):
        return is_operation_outcome(response.json())
    if not content_type.startswith("application/problem+json"):
        return False
    body = response.json()
    return bool(body.get("code") and CJK.search(body.get("title") or "") and body.get("title_en"))


def is_operation_outcome(body: dict) -> bool:
    if body.get("resourceType") != "OperationOutcome" or not body.get("issue"):
        return False
    details = body["issue"][0].get("details") or {}
    codes = [coding.get("code") for coding in details.get("coding") or []]
    text = details.get("text") or ""
    return bool(codes and codes[0] and CJK.search(text) and " / " in text)


@dataclass
class PhysicalCard:
    """A card in the holder's hand: its chip image, loaded from the factory's chip store and
    written back after every use (a card used today is the same card tomorrow)."""

    server: Server
    card_no: str
    chip: Card = field(init=False)

    def __post_init__(self) -> None:
        self.chip = self.server.chips.load(self.card_no)

    def present(self) -> EmulatorReader:
        reader = EmulatorReader(self.chip)
        reader.connect()
        return reader

    def put_away(self) -> None:
        self.server.chips.save(self.chip)

    @property
    def pan(self) -> str:
        return read_debit(self.present()).pan

    @property
    def balance(self) -> int:
        for df in self.chip.mf.walk():
            if df.purse is not None:
                return df.purse.balance
        raise AssertionError("no transit purse on this chip")


@dataclass
class Citizen:
    name: str
    ssn: str
    birth_date: date
    gender: str
    application_id: int
    person_id: int
    card_no: str | None = None
    username: str | None = None
    holder: dict[str, str] | None = None  # headers of the holder's own login
    activation_code: str | None = None  # handed over with the card, for the sign-up

    def applicant(self) -> dict:
        return applicant_json(self.name, self.ssn, self.birth_date, self.gender)


def applicant_json(name: str, ssn: str, birth: date, gender: str, photo_seed: int = 7) -> dict:
    return {
        "name": name, "document_type": "resident_id_card", "document_number": ssn,
        "gender": gender, "birth_date": birth.isoformat(), "nationality": "CHN",
        "phone": "13900000000", "address": "江苏省常州市天宁区示例路 1 号",
        "document_valid_until": (date.today() + timedelta(days=3650)).isoformat(),
        "photo_jpeg_base64": base64.b64encode(make_sample_photo(seed=photo_seed)).decode(),
    }


class World:
    """The running platform seen from outside: an httpx client and the demo logins."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=60)
        self._logins: dict[tuple[str, str | None], dict[str, str]] = {}
        self._people = itertools.count(1)

    def __enter__(self) -> World:
        return self

    def __exit__(self, *exc) -> None:
        self.http.close()

    # -- calls ----------------------------------------------------------------------------

    def call(self, method: str, path: str, *, as_: dict[str, str] | None = None, expect: int | tuple = 200,
             **kwargs) -> httpx.Response:
        """One request; a status other than `expect` fails with the answer and any traceback
        the server logged meanwhile."""
        mark = self.server.log_size()
        headers = {**(as_ or {}), **kwargs.pop("headers", {})}
        if method != "GET":  # `raw` may send it twice: the platform applies a keyed request once
            headers.setdefault("Idempotency-Key", f"e2e-{uuid.uuid4().hex}")
        response = self.raw(method, path if path.startswith("/") else f"{API}/{path}", headers=headers, **kwargs)
        if method != "GET":  # what the change set off has happened before the journey looks
            self.server.wait_for_events()
        allowed = expect if isinstance(expect, tuple) else (expect,)
        if response.status_code not in allowed:
            tracebacks = self.server.tracebacks_since(mark)
            raise CallFailed(f"{method} {path} → {response.status_code} (expected {expect}): "
                             f"{response.text[:2000]}" + ("\n--- server log ---\n" + "\n".join(tracebacks)
                                                         if tracebacks else ""))
        return response

    def raw(self, method: str, url: str, **kwargs) -> httpx.Response:
        """One request, sent again on a fresh connection if the pooled one was closed under
        it (the server drops the connection after an unhandled error, or an idle one after its
        keep-alive time, as the request leaves). Whether the first try reached the server is
        not known, so `call` sends every change with an Idempotency-Key."""
        try:
            return self.http.request(method, url, **kwargs)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            return self.http.request(method, url, **kwargs)

    def get(self, path: str, **kwargs) -> dict | list:
        return self.call("GET", path, **kwargs).json()

    def post(self, path: str, **kwargs) -> dict | list:
        kwargs.setdefault("expect", (200, 201))
        return self.call("POST", path, **kwargs).json()

    @staticmethod
    def eventually(check: Callable[[], object], timeout: float = 5.0) -> object:
        """The first truthy answer of `check`, polled: what the platform's own events update
        (the dispatcher delivers them to the e-card, the bank, … a moment after the commit)."""
        deadline = time.monotonic() + timeout
        while not (answer := check()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert answer, f"not within {timeout} s: {check}"
        return answer

    def login(self, username: str, password: str = DEMO_PASSWORD, channel: str | None = None) -> dict[str, str]:
        key = (username, channel)
        if key not in self._logins:
            token = self.call("POST", "auth/token", data={"username": username, "password": password})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            if channel:
                headers["X-Ykt-Channel"] = channel
            self._logins[key] = headers
        return self._logins[key]

    def staff(self, username: str, channel: str | None = None) -> dict[str, str]:
        return self.login(username, DEMO_PASSWORD, channel)

    # -- people and cards -----------------------------------------------------------------

    def new_person(self) -> tuple[str, str, date, str]:
        """(name, ssn, birth date, gender) of a synthetic adult nobody has used yet."""
        n = next(self._people)
        rng = random.Random(n)
        gender = "MF"[n % 2]
        birth = date(1960, 1, 1) + timedelta(days=n * 97 % 15000)
        ssn = make_citizen_ssn("320402", birth, gender, seq=2 * (n % 500) + (gender == "M"))
        return make_name(rng), ssn, birth, gender

    def apply_at_outlet(self, bank: str = "ICBC", **choice) -> Citizen:
        name, ssn, birth, gender = self.new_person()
        body = {"applicant": applicant_json(name, ssn, birth, gender), "bank_code": bank,
                "pickup_outlet_code": "SS-TN-01", **choice}
        app = self.post("applications", as_=self.staff("outlet"), json=body, expect=201)
        return Citizen(name, ssn, birth, gender, app["id"], app["person_id"])

    def produce(self, application_id: int) -> str:
        """The card centre batches approved applications, the factory makes them, collected."""
        admin = self.staff("admin")
        batch = self.post("applications/production/batches", as_=admin, json={}, expect=201)
        assert application_id in batch["application_ids"], batch
        collected = self.post(f"applications/production/batches/{batch['id']}/collect", as_=admin)
        assert collected["complete"] and not collected["failures"], collected
        return self.get(f"applications/{application_id}", as_=admin)["card_no"]

    def hand_over_at_outlet(self, application_id: int) -> dict:
        outlet = self.staff("outlet")
        self.post(f"applications/{application_id}/ready-for-pickup", as_=outlet)
        return self.post(f"applications/{application_id}/hand-over", as_=outlet)

    def sign_up(self, citizen: Citizen, channel: str | None = None) -> dict[str, str]:
        """Sign-up online with the activation code handed over with the card (the real-name
        provider's assertion for a citizen without one), then a login on the holder's channel."""
        citizen.username = citizen.username or f"holder-{citizen.ssn[-8:]}"
        proof = ({"proof": "activation_code", "code": citizen.activation_code}
                 if citizen.activation_code else {"proof": "real_name", "evidence": "id-token"})
        self.post("auth/holders", json={"name": citizen.name, "id_number": citizen.ssn, **proof,
                                        "username": citizen.username,
                                        "password": HOLDER_PASSWORD}, expect=201)
        citizen.holder = self.login(citizen.username, HOLDER_PASSWORD, channel)
        return citizen.holder

    def citizen_with_card(self, bank: str = "ICBC", *, signed_up: bool = True) -> Citizen:
        """Apply at the outlet, approve, produce, hand over; the holder signs up online."""
        citizen = self.apply_at_outlet(bank)
        self.post(f"applications/{citizen.application_id}/approve", as_=self.staff("outlet"))
        citizen.card_no = self.produce(citizen.application_id)
        citizen.activation_code = self.hand_over_at_outlet(citizen.application_id)["activation_code"]
        if signed_up:
            self.sign_up(citizen)
        return citizen

    def staff_logins(self) -> dict[str, dict[str, str]]:
        return {who: self.staff(who) for who in ("admin", "outlet", "citizen-outlet", "agent12333", "employer",
                                                 "icbc", "transit", "metro")}

    def path_values(self, citizen: Citizen, **more) -> dict[str, object]:
        """A value for every path parameter of the API, the citizen's own where it has one."""
        card = self.card_view(citizen.card_no)
        return {"person_id": citizen.person_id, "application_id": citizen.application_id,
                "card_no": citizen.card_no, "pan": self.card(citizen.card_no).pan, "asn": card["asn"],
                "bank_code": card["bank_code"], "channel": "official_app", "purpose": "revocation",
                "day": date.today().isoformat(), "batch_id": 1, "file_id": "NO-SUCH-FILE", "task_id": "1",
                "review_id": 1, "correction_id": 1, "grant_id": 1, "order_no": "NO-SUCH-ORDER", "contact_id": "no-such-contact",
                "username": "transit", "key_id": 1, "link_id": 1, "filing_id": 1,
                "claim_response_id": "no-such-claim-response",
                "case_id": 1, "document_id": 1,  # hrservices
                "programme": "pension", "period": "2026-12",  # benefits (disbursement)
                "bill_id": 1, "receipt_no": "NO-SUCH-RECEIPT", "mandate_id": 1, "exam_code": "NO-SUCH-EXAM",  # bills
                "venue_code": "DINO", "product_code": "DINO-DAY", "ticket_no": "MP00000000000000",  # tourism (no such ticket)
                "campaign_code": "NO-SUCH-CAMPAIGN", "settlement_id": 1, "redemption_id": 1,  # discounts
                "barcode": "CZLIB-0001", "patron": citizen.card_no,  # library
                **more}

    def wait_for_ecard(self, citizen: Citizen) -> dict:
        """The holder's e-card. It is made by the e-card's consumer of the application's event
        (同步申领): on a busy server seconds after the application (reported), so a holder who
        signs up right after the hand-over may find none yet."""
        return self.eventually(lambda: self.raw("GET", f"{API}/ecard/me", headers=citizen.holder).status_code == 200
                               and self.get("ecard/me", as_=citizen.holder))

    def use_ecard(self, citizen: Citizen, channel: str = "official_app") -> dict:
        """The holder consents on a channel and sets the e-card password."""
        self.wait_for_ecard(citizen)
        self.post(f"ecard/me/channels/{channel}/consent", as_=citizen.holder)
        return self.call("PUT", "ecard/me/password", as_=citizen.holder,
                         json={"new_password": ECARD_PASSWORD}).json()

    def card(self, card_no: str) -> PhysicalCard:
        return PhysicalCard(self.server, card_no)

    def card_view(self, card_no: str, as_: dict[str, str] | None = None) -> dict:
        return self.get(f"cards/{card_no}", as_=as_ or self.staff("admin"))


    # -- transit wallet: the platform drives the card, the counter or phone relays ---------

    def contact(self, staff: dict[str, str], card: PhysicalCard, **body) -> dict:
        """Start a card contact and be the reader: pass each command the platform sends to the
        card and post the card's answer, until the contact is over; the chip is then saved."""
        step = self.post("transit/contacts", as_=staff, json=body, expect=201)
        reader = card.present()
        while step["state"] == "awaiting_card":
            answer = reader.transmit(bytes.fromhex(step["command"])).hex().upper()
            step = self.post(f"transit/contacts/{step['contact_id']}/answers", as_=staff,
                             json={"response": answer})
        card.put_away()
        return step

    def top_up(self, staff: dict[str, str], card: PhysicalCard, amount: int, key: str,
               payer: dict | None = None) -> dict:
        """Read the card, order and pay (idempotency key), write the load."""
        reading = self.contact(staff, card, purpose="read")
        assert reading["state"] == "done", reading
        order = self.post("transit/top-ups", as_=staff, expect=201, headers={"Idempotency-Key": key},
                          json={"asn": reading["result"]["asn"], "amount": amount,
                                "payer": payer or {"kind": "cash", "reference": "till SMK-DIRECT-01"}})
        assert order["state"] == "paid", order
        written = self.contact(staff, card, purpose="top_up", order_no=order["order_no"])
        assert written["state"] == "done" and written["result"]["tac_verified"], written
        return {**order, "contact_id": written["contact_id"]}
