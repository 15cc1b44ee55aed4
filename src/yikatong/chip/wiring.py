"""Register the chip package's seams: the chip store (YKT_CHIP_DIR, default var/chips)."""

from __future__ import annotations

import os

from yikatong.chip.protocols import ChipStore
from yikatong.chip.store import DEFAULT_DIRECTORY, DirectoryChipStore


def chip_directory(settings) -> str:
    return getattr(settings, "chip_store_path", None) or os.environ.get("YKT_CHIP_DIR") or DEFAULT_DIRECTORY


def configure(platform) -> None:
    platform.provide(ChipStore, factory=lambda p: DirectoryChipStore(chip_directory(p.settings)))
