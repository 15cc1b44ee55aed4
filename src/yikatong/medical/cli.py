"""`ykt medical …` (medpages writes the office's commands here; at merge keep theirs and add
`clearing_cli.register(group)` to their `register`)."""

from __future__ import annotations

from yikatong.medical.clearing_cli import register  # noqa: F401 - the CLI's entry point
