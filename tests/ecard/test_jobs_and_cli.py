"""The e-card's background work (outbox catch-up, status-list re-signing, reconciliation)
and its `ykt ecard` commands."""

from __future__ import annotations

from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy import select
from tests.cards.conftest import PHONE
from tests.ecard.conftest import ecard_count, status_lists, verify
from typer.testing import CliRunner

from yikatong.cards import service as cards
from yikatong.cli.main import app as ykt
from yikatong.crypto.protocols import KeyStore
from yikatong.ecard import jobs, rules, service, status_list
from yikatong.ecard.models import Ecard
from yikatong.events.models import OutboxEvent

pytestmark = pytest.mark.db


@pytest.fixture
def broken_sync(monkeypatch):
    """Every e-card sync fails (as a handler would on a transient database error) until
    `broken_sync.repair()`."""

    class Switch:
        def __init__(self) -> None:
            self.original = service.sync_person
            monkeypatch.setattr(service, "sync_person", self.fail)

        @staticmethod
        def fail(**_kwargs):
            raise RuntimeError("database went away")

        def repair(self) -> None:
            monkeypatch.setattr(service, "sync_person", self.original)

    return Switch()


def listed(platform, person_id: int) -> str:
    with platform.uow() as uow:
        return uow.session.execute(select(Ecard.listed_state).where(
            Ecard.person_id == person_id)).scalar_one()


def test_catch_up_applies_what_a_failed_handler_missed(platform, applied, broken_sync):
    person = applied()
    assert ecard_count(platform) == 0
    with platform.uow() as uow:  # the failure did not hold the dispatcher back
        assert all(row.published_at for row in uow.session.execute(select(OutboxEvent)).scalars())
    assert jobs.sync_from_outbox(platform) == 0  # still failing: the cursor stays put
    broken_sync.repair()
    assert jobs.sync_from_outbox(platform) >= 1
    assert person.ecard().state == "active" and ecard_count(platform) == 1
    assert jobs.sync_from_outbox(platform) == 0  # nothing new behind the cursor


def test_reconcile_catches_up_time_and_missing_ecards(platform, holder, clock, broken_sync):
    broken_sync.repair()
    person = holder()
    person.card_op(cards.report_loss, actor=PHONE, kind="temporary_loss")
    assert listed(platform, person.person_id) == "suspended"
    clock.advance(hours=168, seconds=1)  # ended by itself; the cards job has not run yet
    assert person.ecard().state == "active"  # reads are already right
    assert listed(platform, person.person_id) == "suspended"  # the terminals' list is not
    assert jobs.reconcile(platform) == 1
    assert listed(platform, person.person_id) == "clear"
    suspension = status_lists(platform)[0]["credentialSubject"]["encodedList"]
    assert not status_list.bit_is_set(suspension, person.ecard().status_index)


def test_reconcile_issues_ecards_for_cards_that_have_none(platform, broken_sync):
    from tests.applications.conftest import walk_to_hand_over
    from tests.ecard.conftest import submit

    app = submit(platform)  # made while the e-card sync was failing and nothing caught up
    walk_to_hand_over(platform, app.id)
    assert ecard_count(platform) == 0
    broken_sync.repair()
    assert jobs.reconcile(platform) == 1 and ecard_count(platform) == 1
    with platform.uow() as uow:
        assert service.get_ecard(uow=uow, person_id=app.person_id).card_no is not None


def test_status_lists_are_re_signed_when_due(platform, applied, clock):
    applied()
    assert jobs.refresh_status_lists(platform) == 1  # none yet
    assert jobs.refresh_status_lists(platform) == 0
    clock.advance(rules.STATUS_LIST_REFRESH)
    assert jobs.refresh_status_lists(platform) == 1
    credential = status_lists(platform)[1]
    keys = service.verifiers(platform.get(KeyStore))
    assert status_list.verify_credential(credential, keys, clock.now())
    assert not status_list.verify_credential(
        credential, keys, clock.now() + rules.STATUS_LIST_VALIDITY + timedelta(seconds=1))


def test_used_nonces_are_forgotten_a_week_after_expiry(platform, holder, clock):
    from tests.ecard.conftest import redeem

    person = holder()
    token = person.qr()
    redeem(platform, token)
    assert jobs.prune_token_uses(platform) == 0
    clock.advance(days=7)
    assert jobs.prune_token_uses(platform) == 0  # 60 s short of a week past expiry
    clock.advance(seconds=61)
    assert jobs.prune_token_uses(platform) == 1
    assert verify(platform, token).reason == "expired"  # still refused, now as expired


@pytest.fixture
def cli_env(platform, monkeypatch):
    from yikatong.cli import context

    monkeypatch.setenv("YKT_DATABASE_URL", platform.settings.database_url)
    monkeypatch.setenv("YKT_KEY_STORE", platform.settings.key_store_path)
    context.platform.cache_clear()
    yield
    context.platform.cache_clear()


def test_cli_show_consent_and_qr(cli_env, platform, holder, tmp_path):
    person = holder(consent=())
    runner = CliRunner()
    shown = runner.invoke(ykt, ["ecard", "show", person.applicant.document_number],
                          catch_exceptions=False)
    assert shown.exit_code == 0 and person.ecard().ecard_no in shown.output
    out = tmp_path / "qr.png"
    refused = runner.invoke(ykt, ["ecard", "qr", person.card_no, "--out", str(out)])
    assert refused.exit_code == 1 and "ecard_refused" in refused.output and not out.exists()
    consent = runner.invoke(ykt, ["ecard", "consent", person.card_no, "official_app"],
                            catch_exceptions=False)
    assert consent.exit_code == 0 and "official_app" in consent.output
    made = runner.invoke(ykt, ["ecard", "qr", person.card_no, "--out", str(out)],
                         catch_exceptions=False)
    assert made.exit_code == 0, made.output
    assert Image.open(out).format == "PNG"
    token = next(line for line in made.output.splitlines() if line.startswith("YKT1."))
    assert verify(platform, token).genuine  # signed with the same key store
    svg = tmp_path / "qr.svg"
    assert runner.invoke(ykt, ["ecard", "qr", person.card_no, "--out", str(svg)]).exit_code == 0
    assert svg.read_bytes().lstrip().startswith(b"<svg")
    missing = runner.invoke(ykt, ["ecard", "show", "Z99999999"])
    assert missing.exit_code == 1 and "ecard_not_found" in missing.output
