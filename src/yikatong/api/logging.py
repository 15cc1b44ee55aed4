"""Identity numbers never reach the access log, even when a client puts one in a URL."""

from __future__ import annotations

import logging
import re

from yikatong.people.rules import mask_ssn

# 18-character resident/permit numbers (last may be X), legacy 15-digit numbers, and the
# 2017 foreign permanent-residence format (3 letters + 12 digits); also right after a
# percent-escape (a FHIR token search `system|value` reaches the log as `...%7C3204...`).
ID_LIKE = re.compile(r"(?:(?<![0-9A-Za-z])|(?<=%[0-9A-Fa-f]{2}))(?:[0-9]{17}[0-9Xx]|[0-9]{15}|[A-Za-z]{3}[0-9]{12})(?![0-9A-Za-z])")


def mask_identity_numbers(text: str) -> str:
    return ID_LIKE.sub(lambda match: mask_ssn(match.group(0)), text)


class MaskIdentityNumbers(logging.Filter):
    """Masks ID-like numbers in a record's message and arguments (uvicorn's access log
    passes the request line as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_identity_numbers(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_identity_numbers(a) if isinstance(a, str) else a
                                for a in record.args)
        return True


def install(*logger_names: str) -> None:
    for name in logger_names or ("uvicorn.access", "uvicorn.error", "yikatong"):
        logging.getLogger(name).addFilter(MaskIdentityNumbers())
