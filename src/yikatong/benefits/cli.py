"""`ykt benefits …`: the disbursement's commands (disbursement_cli.py: run, report, upload,
reference-list, rebuild-account-map) and the pension confirmation's (certification_cli.py)."""

from __future__ import annotations


def register(group) -> None:
    from yikatong.benefits import certification_cli, disbursement_cli

    disbursement_cli.register(group)  # ykt benefits run|report|upload|reference-list|...

    certification_cli.register(group)  # ykt benefits certification remind|lapse|deaths|collect
