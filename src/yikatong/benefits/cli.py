"""`ykt benefits …`. For now the pension confirmation's commands (certification_cli.py);
`ykt benefits run` joins here."""

from __future__ import annotations


def register(group) -> None:
    from yikatong.benefits import certification_cli

    certification_cli.register(group)  # ykt benefits certification remind|lapse|deaths|collect
