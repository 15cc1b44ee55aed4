"""`ykt bank …`: the branch chores from the command line, and `serve` refusing without NATS."""

from __future__ import annotations

import pytest

from tests.banking.helpers import act, cards_view, produce, teller
from tests.conftest import cli_on
from yikatong.cards import service as cards
from yikatong.core.actor import Actor, Channel, Role

pytestmark = pytest.mark.db


@pytest.fixture
def ykt(bank_platform, monkeypatch):
    return cli_on(bank_platform, monkeypatch)


def test_closure_tasks_from_the_command_line(bank_platform, ykt):
    old = produce(bank_platform, person_id=1)
    act(bank_platform, cards.activate_financial, actor=teller(), card_no=old.card_no)
    act(bank_platform, cards.record_wallet_refund, refunded_fen=0, card_no=old.card_no,
        actor=Actor(user_id="smk", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
                    branch_code="SMK-DIRECT-01"))
    new = produce(bank_platform, person_id=1, kind="exchange", predecessor=old.card_no)
    listed = ykt("bank", "closures", "--bank", "ICBC")
    assert listed.exit_code == 0 and old.card_no in listed.output and new.card_no in listed.output
    task_id = next(word for word in listed.output.split() if word.startswith("ICBC-CLOSE-"))
    shown = ykt("bank", "account", old.pan, "--bank", "ICBC")
    assert shown.exit_code == 0 and "active" in shown.output
    assert ykt("bank", "close", task_id, "--bank", "CCB").exit_code == 1  # not that bank's task
    closed = ykt("bank", "close", task_id, "--bank", "ICBC", "--branch", "ICBC-CZ-002")
    assert closed.exit_code == 0 and "completed" in closed.output
    assert cards_view(bank_platform, old.card_no).bank_financial_status == "closed"
    assert old.card_no not in ykt("bank", "closures", "--bank", "ICBC").output


@pytest.mark.no_db
def test_serve_needs_nats_and_known_bank_codes(ykt, monkeypatch):
    monkeypatch.delenv("YKT_NATS_URL", raising=False)
    no_nats = ykt("bank", "serve", "--bank", "ICBC")
    assert no_nats.exit_code == 1 and "YKT_NATS_URL" in no_nats.output
    monkeypatch.setenv("YKT_NATS_URL", "nats://127.0.0.1:1")
    assert ykt("bank", "serve", "--bank", "XYZ").exit_code != 0
