"""What a holder may do about losses online, asked of the same rules the lifecycle applies."""

from __future__ import annotations

from datetime import UTC, datetime

from yikatong.cards.rules import ONLINE, BlockFacts, BlockKind, loss_options

NOW = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)


def block(kind: str, channel: str, function: str = "hr") -> BlockFacts:
    return BlockFacts(function=function, kind=kind, channel=channel, started_at=NOW)


def test_a_card_in_use_without_losses_may_be_reported_either_way():
    options = loss_options(state="in_use", blocks_in_force=[], family=ONLINE)
    assert options.report == (BlockKind.TEMPORARY_LOSS, BlockKind.FORMAL_LOSS)
    assert not options.unblock and options.unblock_elsewhere == ()


def test_a_temporary_loss_online_may_become_formal_or_be_lifted_online():
    options = loss_options(state="in_use", blocks_in_force=[block("temporary_loss", "online_app")],
                           family=ONLINE)
    assert options.report == (BlockKind.FORMAL_LOSS,) and options.unblock


def test_a_loss_by_phone_is_lifted_by_phone_and_a_formal_loss_takes_no_other():
    options = loss_options(state="in_use", blocks_in_force=[block("formal_loss", "phone_12333")],
                           family=ONLINE)
    assert options.report == () and not options.unblock
    assert options.unblock_elsewhere == ("phone_12333",)


def test_a_card_not_in_use_offers_nothing():
    options = loss_options(state="produced", blocks_in_force=[], family=ONLINE)
    assert options.report == () and not options.unblock
