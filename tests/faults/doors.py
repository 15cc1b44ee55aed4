"""The doors of the operations the fault tests kill, as a process of their own:
`python -m tests.faults.doors OPERATION '{"argument": …}'` prints the door's answer as one line
of JSON.

These operations have an HTTP route and no `ykt` command, and `ykt serve` takes 10 s or more
to build its application on this machine (FastAPI analysing ~400 routes), so a test that starts
one per kill point would not fit the suite's budget. Each door here calls what its route calls,
with the same arguments and the same Idempotency-Key handling — the route function itself
where it is a plain function (discounts), the use case behind the route otherwise (the
loss's `_report_loss`, which the async route hands to a thread, the 2207 message's
`visits.settle`, the counter's `top_up_at_terminal`) — on a Platform built
from the environment, exactly as the CLI builds one. The process dies where YKT_KILL_AT says
(yikatong.core.killpoints); tests/faults/test_operations.py runs it through the harness.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from yikatong.core.actor import Actor, Channel, Role

BANK_BRANCH = Actor(user_id="icbc-teller", role=Role.BANK, channel=Channel.BANK_BRANCH,
                    bank_code="ICBC", branch_code="ICBC-CZ-001")
TILL = Actor(user_id="merchant", role=Role.MERCHANT, channel=Channel.MERCHANT, branch_code="M-CZ-0001")
COUNTER = Actor(user_id="smk-clerk", role=Role.CITIZEN_OUTLET, channel=Channel.CITIZEN_OUTLET,
                branch_code="SMK-DIRECT-01", account_id=9001)


def institution(code: str) -> Actor:
    return Actor(user_id=f"his-{code}", role=Role.MEDICAL_INSTITUTION, channel=Channel.HOSPITAL,
                 branch_code=code)


def loss(platform, *, card_no: str, key: str) -> dict:
    """POST /api/v1/cards/{card_no}/loss at a branch of the card's bank (formal: both functions)."""
    from yikatong.cards import api
    from yikatong.cards.schemas import LossIn

    return api._report_loss(platform, BANK_BRANCH, card_no, LossIn(kind="formal"), key)


def redeem(platform, *, campaign_code: str, card_no: str, order_fen: int, order_ref: str,
           key: str) -> dict:
    """POST /api/v1/discounts/redemptions from a merchant's till."""
    from yikatong.discounts import api
    from yikatong.discounts.schemas import RedeemIn

    body = RedeemIn(campaign_code=campaign_code, card_no=card_no, order_fen=order_fen, order_ref=order_ref)
    return api.redeem(body, key, actor=TILL, platform=platform).model_dump(mode="json")


def settle(platform, *, fixmedins_code: str, msgid: str, mdtrt_id: str, cert_type: str,
           cert_no: str) -> dict:
    """The institution's 2207 (outpatient settlement), idempotent by its msgid."""
    from yikatong.medical import visits

    with platform.uow() as uow:
        view = visits.settle(uow=uow, actor=institution(fixmedins_code), msgid=msgid, mdtrt_id=mdtrt_id,
                             cert_type=cert_type, cert_no=cert_no)
    return dataclasses.asdict(view)


def top_up(platform, *, card_no: str, amount: int, key: str) -> dict:
    """A top-up at the citizen-card counter: the card on the counter's reader (its chip image
    saved after every command, as a real card keeps what it did), paid in cash."""
    from yikatong.chip.protocols import ChipStore
    from yikatong.chip.reader import EmulatorReader
    from yikatong.transit import service
    from yikatong.transit.protocols import Payer, PayerKind

    store = platform.get(ChipStore)
    reader = EmulatorReader(store.load(card_no), after_command=store.save)
    reader.connect()
    view = service.top_up_at_terminal(platform=platform, reader=reader, actor=COUNTER, idempotency_key=key,
                                      amount=amount, payer=Payer(PayerKind.CASH, "till SMK-DIRECT-01"))
    return dataclasses.asdict(view)


DOORS = {"loss": loss, "redeem": redeem, "settle": settle, "top_up": top_up}


def answer(operation: str, arguments: dict, platform=None) -> dict:
    """The door's answer as JSON-ready data (a Platform from the environment unless given)."""
    if platform is None:
        from yikatong.platform import Platform

        platform = Platform()
    return json.loads(json.dumps(DOORS[operation](platform, **arguments), default=str))


def main(argv: list[str]) -> None:
    operation, arguments = argv[0], json.loads(argv[1])
    print(json.dumps(answer(operation, arguments), sort_keys=True, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
