"""`read_card`: what a terminal can read from a card, in one pass through any CardReader."""

from __future__ import annotations

from dataclasses import dataclass

from yikatong.chip.apps.social import SocialSecurityData
from yikatong.chip.errors import CardRefused
from yikatong.chip.protocols import CardReader
from yikatong.chip.psam import Psam
from yikatong.chip.terminal import PurseView, read_purse, read_social_security


@dataclass(frozen=True)
class CardContents:
    atr: bytes
    social_security: SocialSecurityData | None
    purse: PurseView | None
    missing: tuple[str, ...] = ()  # applications the card refused, with the status word


def read_card(reader: CardReader, psam: Psam | None) -> CardContents:
    """Connect, read the social-security data (as far as `psam`'s keys allow) and the
    transit purse, disconnect. An application the card lacks is reported in `missing`
    instead of failing the whole read."""
    atr = reader.connect()
    missing: list[str] = []
    try:
        social = _optional(lambda: read_social_security(reader, psam), "social security", missing)
        purse = _optional(lambda: read_purse(reader), "T-Union purse", missing)
    finally:
        reader.disconnect()
    return CardContents(atr, social, purse, tuple(missing))


def _optional(read, what: str, missing: list[str]):
    try:
        return read()
    except CardRefused as refused:
        missing.append(f"{what}: {refused.message_en}")
        return None
