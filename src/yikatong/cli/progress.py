"""Long work's stages on Rich progress bars, for the simulations' `progress` argument."""

from __future__ import annotations

from collections.abc import Callable

from rich.progress import Progress


class RichStages:
    """A simulation's Progress (`stage(description, total)` → advance) on Rich progress bars."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def stage(self, description: str, total: int) -> Callable[[int], None]:
        task = self.progress.add_task(description, total=total)
        return lambda steps=1: self.progress.advance(task, steps)
