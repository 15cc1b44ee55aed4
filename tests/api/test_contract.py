"""The API keeps its published contract: schemathesis (property-based API testing) drives every
operation of the OpenAPI document against the application in-process, on a database seeded
with the synthetic population (yikatong.demo.population: people, applications, cards, bank
accounts, e-cards, wallets and top-ups in every state the code knows), and checks each answer:
no server error, a documented status, the documented media type and a body matching the
documented schema. A stateful phase then follows the document's links (create something, then
read it back by what the answer named).

Path parameters are drawn half of the time from the population's own records (its card
numbers, application ids, account numbers...), so the operations meet real records in every
state and not only the 404 of a made-up id. The population is built once for the file and
each test works on a copy of it. The sweep's own login is logged in again whenever an
operation (POST /auth/logout) revoked its token, so later operations are not all 401s.

Operations are taken from the document itself, so a route added tomorrow is covered too; the
test fails if any operation of the document was not exercised."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import traceback
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import ON_POSTGRES, PASSWORD
from yikatong.auth.service import create_user
from yikatong.banking.runtime import ReferenceBank, bank_database_url
from yikatong.core.actor import Actor, Role
from yikatong.core.clock import FixedClock
from yikatong.core.settings import Settings
from yikatong.db.engine import make_engine
from yikatong.db.registry import load_all_models
from yikatong.demo.population import PopulationIndex, build_population
from yikatong.platform import Platform

pytestmark = pytest.mark.own_database  # copies of one seeded SQLite population

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
STATEFUL_SCENARIOS = 30
EXAMPLES_PER_OPERATION = 15  # the admin's; the file stays within the suite's time budget (< 3 min)


# Every role but the admin sweeps each operation with fewer cases: enough to meet each
# operation's refusals and the answers scoped to what that role may see.
ROLES = {
    Role.ADMIN: ({}, EXAMPLES_PER_OPERATION),
    Role.HOLDER: ({}, 4),
    Role.SS_OUTLET: ({"branch_code": "SS-TN-01"}, 4),
    Role.PHONE_AGENT: ({}, 4),
    Role.BANK: ({"bank_code": "ICBC", "branch_code": "ICBC-CZ-001"}, 4),
}


@dataclass(frozen=True)
class Template:
    """The population built once for the file: its folder (SQLite databases of the platform
    and of its bank, key store, chips), its index, and the instant its clock ended at."""

    folder: Path
    index: PopulationIndex
    ended_at: datetime


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Template:
    if ON_POSTGRES:
        pytest.skip("the contract sweep runs on SQLite (copies of one seeded database)")
    folder = tmp_path_factory.mktemp("population")
    url = f"sqlite:///{folder / 'ykt.db'}"
    engine = make_engine(url)
    load_all_models().create_all(engine)
    engine.dispose()
    clock = FixedClock(datetime(2026, 3, 2, 1, 30, tzinfo=UTC))
    platform = Platform(Settings(database_url=url, key_store_path=str(folder / "keystore.json")),
                        clock=clock)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YKT_CHIP_DIR", str(folder / "chips"))
        index = build_population(platform)
    platform.get(ReferenceBank).close()
    platform.engine.dispose()
    return Template(folder, index, clock.now())


@pytest.fixture
def clock(template) -> FixedClock:
    """The test's clock goes on from where the population's stopped."""
    return FixedClock(template.ended_at)


@pytest.fixture
def database_url(template, tmp_path, monkeypatch) -> str:
    """A copy of the seeded template for this test (each test may change what it finds)."""
    for item in template.folder.iterdir():
        copy = shutil.copytree if item.is_dir() else shutil.copy2
        copy(item, tmp_path / item.name)
    monkeypatch.setenv("YKT_CHIP_DIR", str(tmp_path / "chips"))
    return f"sqlite:///{tmp_path / 'ykt.db'}"


@pytest.fixture
def population(template) -> PopulationIndex:
    return template.index


@pytest.fixture
def seeded(platform, population):
    """A database seeded with the population: every state of every record kind present."""
    return platform


class Login:
    """A bearer token for a new login of `role` (a holder: the population's first person, whose
    card is in use with a wallet, top-ups and rider grants), logged in again whenever the sweep
    revoked it (it calls POST /auth/logout like any other operation)."""

    def __init__(self, client, platform, role: Role, population: PopulationIndex) -> None:
        fields, _ = ROLES[role]
        if role is Role.HOLDER:
            fields = {"person_id": population.person_ids["holder"]}
        self.client, self.username = client, f"contract-{role.value}"
        with platform.uow() as uow:
            create_user(uow=uow, actor=Actor.system("contract-test"), username=self.username,
                        password=PASSWORD, role=role, **fields)
            uow.commit()
        self.headers: dict[str, str] = {}  # updated in place: the sweep holds this very dict
        self.log_in()

    def log_in(self) -> None:
        answer = self.client.post("/api/v1/auth/token",
                                  data={"username": self.username, "password": PASSWORD})
        assert answer.status_code == 200, answer.text
        self.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def keep_alive(self) -> None:
        if self.client.get("/api/v1/auth/me", headers=self.headers).status_code == 401:
            self.log_in()


def path_values(platform, population: PopulationIndex) -> dict[str, list]:
    """Every path parameter's values that name a record of the seeded database, by name (the
    logins: the population's, never the sweep's own)."""
    from sqlalchemy import select

    from yikatong.applications.models import Application, EmployerBatch, ProductionBatch
    from yikatong.auth.models import AccessToken
    from yikatong.banking.models import BankClosureTask
    from yikatong.banking.runtime import ReferenceBank
    from yikatong.cards.models import Card
    from yikatong.core.clock import local_date
    from yikatong.ecard import service as ecards
    from yikatong.ecard.status_list import PURPOSES
    from yikatong.employers.models import EmployeeLink
    from yikatong.people.models import IdentityReview, Person, PersonCorrection
    from yikatong.transit.models import RiderGrant, TopUpOrder, TransitWallet

    def column(session, attribute) -> list:
        return list(session.execute(select(attribute).order_by(attribute)).scalars())

    with platform.uow() as uow:
        session = uow.session
        values = {
            "application_id": column(session, Application.id),
            "person_id": column(session, Person.id),
            "card_no": column(session, Card.card_no),
            "pan": column(session, Card.pan),
            "bank_code": sorted(set(column(session, Card.bank_code))),
            "asn": column(session, TransitWallet.asn),
            "order_no": column(session, TopUpOrder.order_no),
            "review_id": column(session, IdentityReview.id),
            "correction_id": column(session, PersonCorrection.id),
            "grant_id": column(session, RiderGrant.id),
            "link_id": column(session, EmployeeLink.id),
            "batch_id": sorted(set(column(session, EmployerBatch.id)
                                   + column(session, ProductionBatch.id))),
            "username": sorted(population.usernames.values()),
            "key_id": column(session, AccessToken.id),
            "channel": [channel.code for channel in ecards.channels(uow=uow)],
            "purpose": list(PURPOSES),
            "day": [local_date(uow.now()).isoformat()],
        }
    with platform.get(ReferenceBank).uow() as uow:
        values["task_id"] = column(uow.session, BankClosureTask.task_id)
    return {name: found for name, found in values.items() if found}


def draw_seeded_path_parameters(schema, values: dict[str, list]) -> None:
    """Half of the generated path parameters are replaced by values naming seeded records
    (each parameter drawn on its own, so a card number may meet another card's account)."""

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        known = [name for name in path_parameters or () if name in values]
        if not known:
            return st.just(path_parameters)
        seeded = st.fixed_dictionaries({name: st.sampled_from(values[name]) for name in known})
        return st.one_of(seeded.map(lambda chosen: {**path_parameters, **chosen}),
                         st.just(path_parameters))


def records_reached(schema, values: dict[str, list]) -> set[str]:
    """The path parameter names for which some call with only seeded path parameters was
    answered with a success (filled in as the sweep runs): the population was reached."""
    reached: set[str] = set()

    @schema.hook
    def after_call(context, case, response):
        parameters = case.path_parameters or {}
        if 200 <= response.status_code < 300 and parameters and all(
                value in values.get(name, ()) for name, value in parameters.items()):
            reached.update(parameters)

    return reached


@pytest.mark.parametrize("role", list(ROLES), ids=str)
def test_every_operation_answers_as_documented(seeded, population, client, role):
    app, login = client.app, Login(client, seeded, role, population)
    headers = login.headers
    examples = ROLES[role][1]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    values = path_values(seeded, population)
    draw_seeded_path_parameters(schema, values)
    reached = records_reached(schema, values)
    documented = {operation.ok().label for operation in schema.get_all_operations()}
    exercised: set[str] = set()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        exercised.add(operation.label)

        @given(
            case=st.one_of(
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            )
        )
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,  # the same cases every run: a failure is reproducible
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        # Collected, so that one run names every operation that breaks the contract.
        except (Exception, BaseExceptionGroup) as failure:
            failures.append(f"{operation.label}: {described(failure)}")
        login.keep_alive()
    assert not failures, "\n\n".join(failures)
    assert exercised == documented
    # The sweep met the population: the admin a record of every kind the population names that
    # some read (GET) operation names, the holder its e-card channels, every role at least a
    # card. Kinds that only writes name (a rider grant's revoke, a closure task's completion)
    # succeed only on a record still in the state the write needs and with a valid body, so
    # reaching them in a few cases is luck: they are swept, and checked like every answer, but
    # not required to succeed.
    read_kinds = {parameter for operation in (result.ok() for result in schema.get_all_operations())
                  if operation.method.upper() == "GET" for parameter in _path_names(operation.path)}
    must_reach = (set(values) & read_kinds if role is Role.ADMIN
                  else {"card_no"} | ({"channel"} if role is Role.HOLDER else set()))
    assert must_reach <= reached, f"never answered 2xx on a seeded {sorted(must_reach - reached)}"


def described(failure: BaseException) -> str:
    """A failure's message with the end of each inner exception's traceback: a failure that
    Hypothesis cannot replay ("failed on the first call but not on a later one", seen twice
    under heavy load on two different operations) is a group whose message alone does not say
    what the first call raised."""
    inner = ("".join(traceback.format_exception(each))[-1500:]
             for each in getattr(failure, "exceptions", ()))
    return "\n".join([str(failure)[:1500], *inner])


def _path_names(path: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", path))


class Restorer:
    """Everything the application keeps between requests, as the stateful test starts from:
    the platform's and the bank's SQLite databases (with the sweep's login and its token), the
    key store and chip files, the clock's instant, and the platform's in-process services
    (throttle, bus, caches). `restore` brings all of it back and gives the application a new
    platform on it, so every scenario of the state machine meets the same state: which rules
    are enabled (a bundle filled, a status that allows the transition) then depends on the
    scenario alone, as Hypothesis requires of a replayed prefix."""

    def __init__(self, app, login: Login, folder: Path) -> None:
        self.app, self.login = app, login
        self.live = app.state.platform
        self.settings, self.instant = self.live.settings, self.live.clock.now()
        self.headers = dict(login.headers)
        self.database = Path(self.settings.database_url.removeprefix("sqlite:///"))
        self.bank = Path(bank_database_url(self.settings).removeprefix("sqlite:///"))
        self.keystore = Path(self.settings.key_store_path)
        self.chips = Path(os.environ["YKT_CHIP_DIR"])
        self.folder = folder
        folder.mkdir()
        self._close(self.live)
        for path in (self.database, self.bank):
            _sqlite_copy(path, folder / path.name)
        shutil.copy2(self.keystore, folder / self.keystore.name)
        shutil.copytree(self.chips, folder / "chips")
        self.platforms: list[Platform] = []

    def restore(self) -> None:
        self._close(self.app.state.platform)
        for path in (self.database, self.bank):
            _sqlite_copy(self.folder / path.name, path)
        shutil.copy2(self.folder / self.keystore.name, self.keystore)
        shutil.rmtree(self.chips)
        shutil.copytree(self.folder / "chips", self.chips)
        platform = Platform(self.settings, clock=FixedClock(self.instant))
        self.platforms.append(platform)
        self.app.state.platform = platform
        self.login.headers.clear()
        self.login.headers.update(self.headers)  # its token is in the restored database

    def close(self) -> None:
        for platform in self.platforms:
            self._close(platform)
        self.app.state.platform = self.live

    @staticmethod
    def _close(platform: Platform) -> None:
        platform.get(ReferenceBank).close()
        platform.engine.dispose()


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy a SQLite database with its own backup API (whatever its journal holds)."""
    with closing(sqlite3.connect(source)) as reading, closing(sqlite3.connect(target)) as writing:
        reading.backup(writing)


def test_links_between_operations_hold(seeded, population, client, tmp_path):
    """The stateful phase: sequences of calls that follow the document's links (create an
    application, then read, approve or cancel it by the id the answer named), on the seeded
    database. Its path parameters come from the links, not from the population. Every scenario
    starts from the same state (Restorer): hypothesis replays a scenario's prefix to generate
    and shrink, and a rule enabled or not by what an earlier scenario changed (a card lost, a
    login locked) is an inconsistent data generation."""
    login = Login(client, seeded, Role.ADMIN, population)
    restorer = Restorer(client.app, login, tmp_path / "scenario-start")
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    links = [
        name
        for path in schema.raw_schema["paths"].values()
        for operation in path.values()
        for answer in operation["responses"].values()
        for name in answer.get("links", {})
    ]
    assert len(links) >= 10, links

    class Machine(schema.as_state_machine()):
        def setup(self):
            restorer.restore()

        def get_call_kwargs(self, case):
            login.keep_alive()
            return {"headers": dict(login.headers)}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    try:
        Machine.run(
            settings=settings(
                max_examples=STATEFUL_SCENARIOS,
                stateful_step_count=6,
                deadline=None,
                database=None,
                derandomize=True,  # the same cases every run: a failure is reproducible
                suppress_health_check=list(HealthCheck),
            )
        )
    finally:
        restorer.close()
