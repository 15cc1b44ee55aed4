"""The stages of long work (the simulations), as the CLI shows them on progress bars
(`cli.progress.RichStages`) and a test or a library caller does not (`SILENT`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Progress(Protocol):
    def stage(self, description: str, total: int) -> Callable[[int], None]:
        """Start a stage of `total` steps; the returned function advances it."""
        ...


class _Silent:
    def stage(self, description: str, total: int) -> Callable[[int], None]:
        return lambda steps=1: None


SILENT: Progress = _Silent()
