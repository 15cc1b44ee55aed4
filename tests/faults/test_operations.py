"""Killed at any step, retried with the same key: every operation that moves money or status
(issue 16) — a transit top-up between payment and card write, a clearing upload mid-file, a
formal loss between commit and publish, a medical 2207 settlement, a campaign redemption at a
till — run as a process of its own on PostgreSQL, SIGKILLed at a named point, then retried with
the same request (the same Idempotency-Key, msgid, order key or file).

After the retry, and one dispatch of the outbox as the worker would run it, each case checks:

* the books balance to the fen: every journal sums to zero, debits equal credits, every
  account's balance equals its postings, and the operation's accounts moved by exactly its
  amount (from the template's balances);
* every event is delivered once: all published, no effect recorded twice in the outbox, and
  each subscribed consumer (e-card, SMS notices, benefits' account map) has it exactly once in
  its inbox;
* the retry answers the first try's result: the answer an uninterrupted try gives (checked
  against the seed's figures), and when the first try had committed, its stored answer replayed
  (the same redemption, settlement, order, batch result or stored response).

The clearing upload goes through `ykt clearing upload`; the others through their doors in
tests/faults/doors.py (the route's own function or the use case behind it: `ykt serve` takes
10 s and more to start, once per kill point would not fit the suite). `POINTS` is the small
default set; YKT_FAULTS=all kills at every point and compares each case with an unkilled run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults import world
from tests.faults.harness import FaultTemplate, Harness, Run, needs_postgres, rows, ykt_argv

pytestmark = [pytest.mark.db, needs_postgres]
ALL = os.environ.get("YKT_FAULTS") == "all"

# Where each operation is killed. The default set: one boundary per operation where a crash
# does the most harm (money taken, nothing written; committed, nobody told). The rest with
# YKT_FAULTS=all. Each case is two processes of a few seconds each.
POINTS = {
    "top_up": ["transit.top_up.paid"],             # paid and posted, not written to the card
    "upload": ["clearing.copy.slice"],             # mid-COPY of the file's records
    "loss": ["events.dispatch.read"],              # committed, the events not published
    "settle": ["medical.message.committed"],       # settled, the hospital has no answer
    "redeem": ["discounts.redeem.committed"],      # budget spent, the till has no answer
}
MORE_POINTS = {
    "top_up": ["transit.top_up.ordered", "transit.top_up.captured", "transit.top_up.paying",
               "transit.top_up.mac2_issued", "transit.top_up.credited", "transit.top_up.completing",
               "transit.top_up.done", "events.dispatch.published@2"],
    "upload": ["clearing.upload.inserted", "clearing.upload.posted", "events.dispatch.read",
               "events.dispatch.published", "clearing.upload.committed"],
    "loss": ["cards.loss.bank_answered", "events.dispatch.published"],
    "settle": ["medical.message.handled"],
    "redeem": ["discounts.redeem.spent"],
}
CASES = [(operation, point) for operation, points in POINTS.items() for point in points] + (
    [(operation, point) for operation, points in MORE_POINTS.items() for point in points] if ALL else [])
# Points after the operation's own commit: the first try's answer exists, the retry replays it.
COMMITTED = {"transit.top_up.done", "clearing.upload.committed", "events.dispatch.read",
             "events.dispatch.published", "medical.message.committed", "discounts.redeem.committed"}
TOP_UP_FEN, ORDER_FEN, DISCOUNT_FEN = 5_000, 12_000, 1_000


@dataclass
class World:
    template: FaultTemplate
    folder: Path
    facts: dict
    balances: dict[str, int]  # the template's ledger balances, by account code
    last_seq: int             # the template's last outbox event
    last_journal: int         # … and ledger journal


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("world")
    facts: dict = {}
    template = FaultTemplate.build(lambda url: facts.update(world.seed(url, folder)))
    balances = dict(rows(template.url, "SELECT code, balance FROM ledger_accounts"))
    [(last_seq,)] = rows(template.url, "SELECT coalesce(max(seq), 0) FROM outbox_events")
    [(last_journal,)] = rows(template.url, "SELECT coalesce(max(id), 0) FROM ledger_journals")
    yield World(template, folder, facts, balances, last_seq, last_journal)
    template.drop()


def argv(operation: str, facts: dict) -> list[str]:
    """The same request every time: the same keys, the same file."""
    if operation == "upload":
        return ykt_argv("clearing", "upload", facts["upload"]["path"])
    arguments = {
        "loss": {"card_no": facts["loss"]["card_no"], "key": "fault-loss-0001"},
        "top_up": {"card_no": facts["top_up"]["card_no"], "amount": TOP_UP_FEN, "key": "fault-top-up-0001"},
        "settle": {k: facts["settle"][k] for k in ("fixmedins_code", "msgid", "mdtrt_id", "cert_type", "cert_no")},
        "redeem": {"campaign_code": facts["redeem"]["campaign_code"], "card_no": facts["redeem"]["card_no"],
                   "order_fen": ORDER_FEN, "order_ref": "TILL-0001", "key": "fault-till-0001"},
    }[operation]
    return [sys.executable, "-m", "tests.faults.doors", operation, json.dumps(arguments)]


@contextmanager
def clone(seeded: World, workdir: Path) -> Iterator[Harness]:
    """A fresh copy of the template, with the seed's key store and a copy of its chip images
    (a card keeps what a killed process wrote to it)."""
    shutil.copytree(seeded.folder / "chips", workdir / "chips")
    with seeded.template.clone() as url:
        yield Harness(url, workdir, env={"YKT_KEY_STORE": str(seeded.folder / "keystore.json")})


def answer_of(operation: str, run: Run) -> dict | str:
    if operation == "upload":  # the CLI's table, a replay marked as such
        return run.stdout
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def unkilled(seeded, tmp_path_factory):
    """unkilled(operation) → the points an uninterrupted run passes and the state it leaves
    (each on a clone of its own, run once per module when asked)."""
    done: dict[str, dict] = {}

    def run(operation: str) -> dict:
        if operation not in done:
            with clone(seeded, tmp_path_factory.mktemp(f"unkilled-{operation}")) as harness:
                points = harness.points(argv(operation, seeded.facts))
                catch_up(harness)
                done[operation] = {"points": points, "state": state(operation, harness, seeded)}
        return done[operation]

    return run


@pytest.mark.parametrize(("operation", "point"), CASES, ids=[f"{o}-{p}" for o, p in CASES])
def test_killed_then_retried_with_the_same_key(seeded, unkilled, tmp_path, operation, point):
    with clone(seeded, tmp_path) as harness:
        request = argv(operation, seeded.facts)
        harness.killed_at(request, point)
        retried = harness.completed(request)
        catch_up(harness)
        answer = answer_of(operation, retried)

        assert_books_balance(harness.database_url)
        assert_delivered_once(harness.database_url, seeded.last_seq, EVENTS[operation])
        CHECKS[operation](harness, seeded, answer, replayed=point.partition("@")[0] in COMMITTED)
        if ALL:  # the same end as a run that was never killed
            assert state(operation, harness, seeded) == unkilled(operation)["state"]


@pytest.mark.skipif(not ALL, reason="one more process per operation: YKT_FAULTS=all")
@pytest.mark.parametrize("operation", list(POINTS))
def test_an_unkilled_run_passes_every_point_killed(unkilled, operation):
    passed = unkilled(operation)["points"]
    for point in POINTS[operation] + MORE_POINTS[operation]:
        name, _, count = point.partition("@")
        assert passed.count(name) >= int(count or 1), f"{point} is never reached: {passed}"


# --- every case --------------------------------------------------------------------------------


def catch_up(harness: Harness) -> None:
    """One dispatch of the outbox, as the worker's next cycle would do it: what the killed
    process committed and never published (a retry that only replays commits nothing new)."""
    from yikatong.events.dispatcher import dispatch_pending
    from yikatong.platform import Platform

    platform = Platform(harness.settings())
    try:
        dispatch_pending(platform)
    finally:
        platform.engine.dispose()


def assert_books_balance(url: str) -> None:
    """Every journal sums to zero, and every account's balance is its postings (normal sign)."""
    assert rows(url, """SELECT journal_id, sum(amount) FROM ledger_postings GROUP BY journal_id
                        HAVING sum(amount) <> 0""") == []
    [(debits, credits)] = rows(url, """SELECT coalesce(sum(amount) FILTER (WHERE amount > 0), 0),
                                              coalesce(-sum(amount) FILTER (WHERE amount < 0), 0)
                                       FROM ledger_postings""")
    assert debits == credits
    from yikatong.ledger import rules

    sums = dict(rows(url, "SELECT account_id, sum(amount) FROM ledger_postings GROUP BY account_id"))
    for account_id, code, kind, balance in rows(url, "SELECT id, code, kind, balance FROM ledger_accounts"):
        assert balance == rules.normal_sign(kind) * sums.get(account_id, 0), f"{code}: {balance}"


def subscriptions() -> dict[str, tuple[str, ...]]:
    """The in-process consumers and the event types each takes."""
    from yikatong.benefits import jobs as benefits
    from yikatong.ecard import jobs as ecard
    from yikatong.notices import jobs as notices

    return {module.CONSUMER: tuple(module.EVENT_TYPES) for module in (benefits, ecard, notices)}


# The events each operation raises at least (a settlement and a redemption raise none: the
# institution's and the till's answer is all they tell).
EVENTS = {"top_up": {"transit.top_up_paid", "transit.top_up_done"}, "upload": {"clearing.file_received"},
          "loss": {"card.formal_loss_reported"}, "settle": set(), "redeem": set()}


def assert_delivered_once(url: str, after_seq: int, expected: set[str]) -> None:
    """The operation's events (after the template's): all published, none raised twice for one
    effect, each in the inbox of every consumer that takes its type exactly once."""
    events = rows(url, """SELECT event_id, type, aggregate_id, payload::text, published_at IS NOT NULL
                          FROM outbox_events WHERE seq > %(after)s ORDER BY seq""", after=after_seq)
    assert expected <= {kind for _, kind, *_ in events}, events
    assert all(published for *_, published in events), events
    effects = [(kind, aggregate, payload) for _, kind, aggregate, payload, _ in events]
    assert len(effects) == len(set(effects)), f"an event raised twice: {effects}"
    inbox = rows(url, "SELECT consumer, event_id, count(*) FROM event_inbox GROUP BY consumer, event_id")
    delivered = {(consumer, event_id): count for consumer, event_id, count in inbox}
    for consumer, types in subscriptions().items():
        for event_id, kind, *_ in events:
            if kind in types:
                assert delivered.get((consumer, event_id)) == 1, f"{kind} {event_id} to {consumer}"


def moved(url: str, seeded: World, *codes: str) -> dict[str, int]:
    """How far each account moved from the template's balance."""
    now = dict(rows(url, "SELECT code, balance FROM ledger_accounts WHERE code = ANY(%(codes)s)",
                    codes=list(codes)))
    return {code: now.get(code, 0) - seeded.balances.get(code, 0) for code in codes}


# --- per operation: the answer, and nothing done twice -----------------------------------------


def check_top_up(harness: Harness, seeded: World, answer: dict, *, replayed: bool) -> None:
    from yikatong.chip.store import DirectoryChipStore
    from yikatong.transit import rules

    url, facts = harness.database_url, seeded.facts["top_up"]
    assert (answer["asn"], answer["amount"], answer["state"], answer["tac_verified"]) == (
        facts["asn"], TOP_UP_FEN, "done", True)
    orders = rows(url, "SELECT order_no, state, amount, tac FROM transit_top_up_orders "
                       "WHERE idempotency_key = 'fault-top-up-0001'")
    assert orders == [(answer["order_no"], "done", TOP_UP_FEN, answer["tac"])]
    payments = rows(url, "SELECT key, amount, state FROM transit_reference_payments")
    assert payments == [(f"transit-top-up:{answer['order_no']}", TOP_UP_FEN, "captured")]
    assert moved(url, seeded, rules.TOP_UP_UNWRITTEN, rules.WALLET_FLOAT) == {
        rules.TOP_UP_UNWRITTEN: 0, rules.WALLET_FLOAT: TOP_UP_FEN}
    purse = next(df.purse for df in DirectoryChipStore(harness.workdir / "chips").load(facts["card_no"]).mf.walk()
                 if df.purse is not None)
    assert (purse.balance, purse.online_counter) == (TOP_UP_FEN, 1)  # credited once, one load


def check_upload(harness: Harness, seeded: World, answer: str, *, replayed: bool) -> None:
    url, facts = harness.database_url, seeded.facts["upload"]
    [(file_id, result)] = rows(url, "SELECT file_id, result FROM clearing_batches WHERE direction = 'in'")
    assert (result["records"], result["cleared"], result["rejected"]) == (12, 12, 0)
    assert result["settled_amount"] == facts["charged"]
    assert rows(url, "SELECT count(*), count(DISTINCT (asn, counter_kind, counter)) FROM clearing_records") == [
        (12, 12)]
    line = next(line for line in answer.splitlines() if file_id in line)
    assert ("(replay)" in line) == replayed, answer
    cells = [cell.strip() for cell in re.split(r"[│|]", line) if cell.strip()]
    assert cells[2:6] == ["12", "12", "0", "0"] and cells[-1] == f"{facts['charged'] / 100:.2f}"
    journals = rows(url, "SELECT request_id, count(*) FROM ledger_journals WHERE request_id LIKE %(f)s "
                         "GROUP BY request_id", f=f"%{file_id}%")
    assert journals and all(count == 1 for _, count in journals)


def check_loss(harness: Harness, seeded: World, answer: dict, *, replayed: bool) -> None:
    url, card_no = harness.database_url, seeded.facts["loss"]["card_no"]
    card = answer["card"]
    assert (card["card_no"], card["hr_status"], card["financial_status"]) == (card_no, "formal_loss", "formal_loss")
    [(stored,)] = rows(url, "SELECT response FROM idempotency_records WHERE key = 'fault-loss-0001'")
    assert stored == answer  # the retry answers what was stored with the loss
    blocks = rows(url, """SELECT b.function, b.kind FROM card_blocks b JOIN cards c ON c.id = b.card_id
                          WHERE c.card_no = %(card)s AND b.lifted_at IS NULL ORDER BY b.function""",
                  card=card_no)
    assert blocks == [("financial", "formal_loss"), ("hr", "formal_loss")]
    assert rows(url, """SELECT count(*) FROM bank_losses l JOIN bank_accounts a ON a.id = l.account_id
                        WHERE a.card_no = %(card)s""", card=card_no) == [(1,)]  # the bank blocked it once
    assert rows(url, "SELECT count(*) FROM sms_messages WHERE template = 'card_loss'") == [(1,)]  # one text


def check_settle(harness: Harness, seeded: World, answer: dict, *, replayed: bool) -> None:
    url, facts = harness.database_url, seeded.facts["settle"]
    assert (answer["state"], answer["mdtrt_id"], answer["setlinfo"]) == ("settled", facts["mdtrt_id"], facts["preview"])
    [(stored,)] = rows(url, "SELECT response FROM medical_messages WHERE msgid = %(m)s", m=facts["msgid"])
    assert stored["setl_id"] == answer["setl_id"] and stored["setlinfo"] == answer["setlinfo"]
    assert rows(url, "SELECT setl_id FROM medical_settlements WHERE mdtrt_id = %(v)s",
                v=facts["mdtrt_id"]) == [(answer["setl_id"],)]
    journals = rows(url, "SELECT count(*) FROM ledger_journals WHERE kind = 'medical_settlement'")
    assert journals == [(1,)]


def check_redeem(harness: Harness, seeded: World, answer: dict, *, replayed: bool) -> None:
    url, facts = harness.database_url, seeded.facts["redeem"]
    assert (answer["discount_fen"], answer["pay_fen"], answer["status"], answer["replayed"]) == (
        DISCOUNT_FEN, ORDER_FEN - DISCOUNT_FEN, "spent", replayed)
    spends = rows(url, "SELECT id, amount_fen FROM discount_spends")
    assert spends == [(answer["id"], DISCOUNT_FEN)]
    assert rows(url, "SELECT spent_fen FROM discount_campaigns WHERE code = %(c)s",
                c=facts["campaign_code"]) == [(DISCOUNT_FEN,)]


CHECKS = {"top_up": check_top_up, "upload": check_upload, "loss": check_loss, "settle": check_settle,
          "redeem": check_redeem}


# --- the state compared with an unkilled run's (YKT_FAULTS=all) ---------------------------------

# What each operation leaves besides the books and the events, without ids, times and TACs (a
# card written again after a kill gets a TAC over another date-time).
OUTCOMES = {
    "top_up": ["SELECT state, amount, needs_review, tac_verified FROM transit_top_up_orders",
               "SELECT amount, state FROM transit_reference_payments"],
    "upload": ["SELECT file_id, result::text FROM clearing_batches ORDER BY file_id",
               "SELECT status, count(*) FROM clearing_records GROUP BY status ORDER BY status"],
    "loss": ["""SELECT b.function, b.kind, b.lifted_at IS NULL FROM card_blocks b ORDER BY 1, 2, 3""",
             "SELECT kind, source, lifted_at IS NULL FROM bank_losses ORDER BY 1, 2, 3",
             "SELECT scope, count(*) FROM idempotency_records GROUP BY scope ORDER BY scope"],
    "settle": ["SELECT state, medfee_sumamt FROM medical_settlements ORDER BY 1, 2",
               "SELECT infno, count(*) FROM medical_messages GROUP BY infno ORDER BY infno"],
    "redeem": ["SELECT source, amount_fen, order_fen, status FROM discount_spends",
               "SELECT code, spent_fen FROM discount_campaigns ORDER BY code"],
}


def state(operation: str, harness: Harness, seeded: World) -> dict:
    url = harness.database_url
    moved_accounts = {code: balance - seeded.balances.get(code, 0)
                      for code, balance in rows(url, "SELECT code, balance FROM ledger_accounts")
                      if balance != seeded.balances.get(code, 0)}
    return {
        "moved": moved_accounts,
        "journals": rows(url, """SELECT kind, count(*) FROM ledger_journals WHERE id > %(after)s
                                 GROUP BY kind ORDER BY kind""", after=seeded.last_journal),
        "events": rows(url, """SELECT type, count(*), count(published_at) FROM outbox_events
                               WHERE seq > %(after)s GROUP BY type ORDER BY type""", after=seeded.last_seq),
        "inbox": rows(url, """SELECT i.consumer, count(*) FROM event_inbox i
                              JOIN outbox_events o ON o.event_id = i.event_id
                              WHERE o.seq > %(after)s GROUP BY i.consumer ORDER BY i.consumer""",
                      after=seeded.last_seq),
        "texts": rows(url, "SELECT count(*) FROM sms_messages"),
        "outcome": [rows(url, sql) for sql in OUTCOMES[operation]],
    }
