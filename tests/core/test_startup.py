"""Production mode: the platform refuses to start, naming the setting, when a development
convenience or a broken key store would make it unsafe; development mode keeps working.

Each refusal test starts from `production`, a platform that does start (the first test proves
it), and breaks exactly one thing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from tests.conftest import cli_on

from yikatong.applications.protocols import IdentityAuthenticator, RealNameResult
from yikatong.core.clock import FixedClock
from yikatong.crypto.keystore import FileKeyStore, InMemoryKeyStore
from yikatong.crypto.protocols import KeyStore
from yikatong.platform import Platform
from yikatong.startup import StartupRefused, _development_only, check_startup, startup_problems

pytestmark = pytest.mark.db


class ProviderAuthenticator:
    """Stands for a deployment's real-name provider: not marked development-only."""

    def authenticate(self, *, name: str, id_number: str, evidence: str) -> RealNameResult:
        return RealNameResult(verified=False, reason="not in this test")


@dataclass
class DevelopmentSmsOutbox:
    """A seam another package registers lazily, marked by the team-wide convention."""

    development_only = True


@pytest.fixture
def kek() -> str:
    return secrets.token_hex(32)


@pytest.fixture
def production_settings(platform, tmp_path, kek):
    """Settings of a production deployment whose key store exists under its KEK."""
    FileKeyStore.init(tmp_path / "prod-keystore.json", bytes.fromhex(kek))
    return replace(platform.settings, environment="production", key_encryption_key=kek,
                   key_store_path=str(tmp_path / "prod-keystore.json"),
                   bank_database_url=f"sqlite:///{tmp_path / 'bank.db'}",
                   chip_store_path=str(tmp_path / "chips"), page_secret=secrets.token_hex(32))


class CarrierSms:
    """Stands for a deployment's SMS carrier: not marked development-only."""

    def send(self, *, phone: str, text: str, reference: str) -> str:
        return reference


def make_production(settings, **platform_args) -> Platform:
    from yikatong.notices.protocols import SmsGateway

    plat = Platform(settings, **platform_args)
    plat.provide(IdentityAuthenticator, ProviderAuthenticator())
    plat.provide(SmsGateway, CarrierSms())
    return plat


@pytest.fixture
def production(production_settings):
    plat = make_production(production_settings)
    yield plat
    plat.engine.dispose()


def refusal(plat) -> list[str]:
    with pytest.raises(StartupRefused) as refused:
        check_startup(plat)
    assert refused.value.code == "startup_refused"
    return [problem.setting for problem in refused.value.problems]


def test_a_well_configured_production_platform_starts(production):
    from fastapi.testclient import TestClient

    from yikatong.api.app import create_app

    assert startup_problems(production) == []
    assert TestClient(create_app(production)).get("/healthz").status_code == 200


def test_no_kek_refuses_and_creates_no_development_kek_file(production_settings, tmp_path):
    plat = make_production(replace(production_settings, key_encryption_key=None))
    assert refusal(plat) == ["YKT_KEK / YKT_KEK_FILE"]
    assert not (tmp_path / "kek").exists()
    # and the key store itself refuses rather than falling back to a development KEK
    from yikatong.crypto.errors import KeyStoreLocked

    with pytest.raises(KeyStoreLocked):
        plat.get(KeyStore)
    assert not (tmp_path / "kek").exists()


def test_the_in_memory_key_store_setting_refuses(production_settings):
    assert refusal(make_production(replace(production_settings, key_store_path="memory"))) == [
        "YKT_KEY_STORE"]


@pytest.mark.parametrize("breakage", ["wrong kek", "missing store", "damaged store"])
def test_a_key_store_that_cannot_be_opened_refuses(production_settings, breakage, tmp_path):
    settings = production_settings
    if breakage == "wrong kek":
        settings = replace(settings, key_encryption_key=secrets.token_hex(32))
    elif breakage == "missing store":
        settings = replace(settings, key_store_path=str(tmp_path / "nowhere.json"))
    else:
        store = tmp_path / "prod-keystore.json"
        store.write_bytes(store.read_bytes()[:-20] + b"0" * 20)
    with pytest.raises(StartupRefused) as refused:
        check_startup(make_production(settings))
    (problem,) = refused.value.problems
    assert problem.setting == "YKT_KEY_STORE / YKT_KEK" and "key store" in problem.en


@pytest.mark.no_db
def test_a_broken_key_store_only_warns_in_development(platform, tmp_path):
    """Development mode keeps starting, but says so (the CLI prints it in red)."""
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    dev = Platform(replace(platform.settings, key_store_path=str(broken)), clock=platform.clock)
    (problem,) = check_startup(dev)
    assert problem.setting == "YKT_KEY_STORE / YKT_KEK"


def test_the_wired_development_defaults_refuse(production_settings):
    """The synthetic identity check and the development SMS outbox, as the wiring registers
    them when a deployment registers nothing else."""
    plat = Platform(production_settings)
    assert refusal(plat) == ["seam IdentityAuthenticator", "seam SmsGateway"]


def test_any_development_only_seam_refuses_even_behind_a_lazy_factory(production):
    class SomeSeam:  # a protocol some other package adds
        pass

    production.provide(SomeSeam, factory=lambda _p: DevelopmentSmsOutbox())
    production.provide(KeyStore, InMemoryKeyStore(seed=b"\x00" * 32))
    assert sorted(refusal(production)) == ["seam KeyStore", "seam SomeSeam"]


def test_a_movable_clock_refuses(production_settings):
    assert refusal(make_production(production_settings, clock=FixedClock())) == ["clock"]


def test_a_demo_login_in_the_database_refuses_until_deactivated(production, platform, admin_actor):
    from yikatong.auth.service import create_user, find_user, set_active
    from yikatong.platform_setup import DEMO_PASSWORD

    with production.uow() as uow:
        create_user(uow=uow, actor=admin_actor, username="icbc", password=DEMO_PASSWORD,
                    role="bank", bank_code="ICBC")
        uow.commit()
    (setting,) = refusal(production)
    assert setting.startswith("demo logins")
    with production.uow() as uow:
        set_active(uow=uow, actor=admin_actor, user=find_user(uow=uow, username="icbc"), active=False)
        uow.commit()
    assert startup_problems(production) == []


def test_create_app_refuses_in_production(production_settings):
    from yikatong.api.app import create_app

    with pytest.raises(StartupRefused):
        create_app(Platform(production_settings))


def test_production_prepare_creates_no_demo_logins_and_development_does(production_settings, tmp_path, clock):
    """prepare() migrates, so each mode gets a fresh, empty database."""
    from sqlalchemy import select

    from yikatong.auth.models import User
    from yikatong.platform_setup import DEMO_USERS, create_demo_logins, prepare

    production = make_production(replace(production_settings, database_url=f"sqlite:///{tmp_path / 'p.db'}"))
    platform = Platform(replace(production_settings, environment="development",
                                database_url=f"sqlite:///{tmp_path / 'd.db'}"), clock=clock)
    assert prepare(production).credentials == {}
    with production.uow() as uow:
        assert uow.session.execute(select(User.username)).scalars().all() == []
    with pytest.raises(RuntimeError):
        create_demo_logins(production)
    demo = prepare(platform)
    assert set(demo.created) == {username for username, _, _ in DEMO_USERS}
    assert prepare(platform).created == ()  # a second start creates none


@pytest.mark.parametrize("command", [["serve"], ["worker", "--once"]])
def test_ykt_serve_and_worker_refuse_in_production_naming_each_setting(production_settings, monkeypatch, command):
    plat = Platform(replace(production_settings, key_encryption_key=None))
    result = cli_on(plat, monkeypatch)(*command)
    assert result.exit_code == 1
    assert "startup_refused" in result.output and "YKT_KEK / YKT_KEK_FILE" in result.output
    assert "IdentityAuthenticator" in result.output and "生产模式拒绝启动" in result.output


def test_ykt_serve_refuses_a_chosen_clock_in_production(production, production_settings, monkeypatch):
    from yikatong.core.clock import MovableClock

    assert refusal(make_production(production_settings, clock=MovableClock())) == ["clock"]
    result = cli_on(production, monkeypatch)("serve", "--clock", "2036-03-10T09:00")
    assert result.exit_code == 1 and "dev_clock_refused" in result.output
    assert "--clock" in result.output and not _development_only(production.clock)


@pytest.mark.no_db
def test_ykt_serve_in_development_runs_a_movable_clock_from_the_chosen_time(platform):
    from yikatong.api.cli import _start_clock
    from yikatong.core.clock import SystemClock

    dev = Platform(platform.settings, clock=SystemClock(), engine=platform.engine)
    _start_clock(dev, "2036-03-10T09:00")
    assert dev.clock.moved and abs(dev.clock.now() - datetime(2036, 3, 10, 1, 0, tzinfo=UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize("page_secret", [None, "too-short"])
def test_production_refuses_without_a_page_secret_of_its_own(production_settings, page_secret):
    plat = make_production(replace(production_settings, page_secret=page_secret))
    try:
        with pytest.raises(StartupRefused) as refused:
            check_startup(plat)
    finally:
        plat.engine.dispose()
    assert [problem.setting for problem in refused.value.problems] == ["YKT_PAGE_SECRET"]
