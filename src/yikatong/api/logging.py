"""Identity numbers never reach the access log, even when a client puts one in a URL."""

from __future__ import annotations

import functools
import logging
import re

from yikatong.people.rules import mask_ssn

# 18-character resident/permit numbers (last may be X), legacy 15-digit numbers, and the
# 2017 foreign permanent-residence format (3 letters + 12 digits); also right after a
# percent-escape (a FHIR token search `system|value` reaches the log as `...%7C3204...`).
ID_LIKE = re.compile(r"(?:(?<![0-9A-Za-z])|(?<=%[0-9A-Fa-f]{2}))(?:[0-9]{17}[0-9Xx]|[0-9]{15}|[A-Za-z]{3}[0-9]{12})(?![0-9A-Za-z])")


# Every ID_LIKE match holds twelve digits in a row: a text without such a run has nothing to
# mask, and this one plain scan is 3-4 times faster than ID_LIKE's look-behinds tried at every
# position (a batch's audit record names 50,000 row references: bench/disbursement.py, disb6).
_TWELVE_DIGITS = re.compile(r"[0-9]{12}")


def may_hold_identity_numbers(text: str) -> bool:
    """False only when `text` surely has no ID-like number (mask_identity_numbers would
    return it as it is)."""
    return _TWELVE_DIGITS.search(text) is not None


def mask_identity_numbers(text: str) -> str:
    return ID_LIKE.sub(lambda match: mask_ssn(match.group(0)), text)


# For the access log's line and arguments (client, method, path, version), which repeat from
# request to request: the same function, remembered for the last few thousand texts.
_access_part_masked = functools.lru_cache(maxsize=4096)(mask_identity_numbers)


class MaskIdentityNumbers(logging.Filter):
    """Masks ID-like numbers in a record's message and arguments (uvicorn's access log
    passes the request line as an argument)."""

    def filter(self, record: logging.LogRecord) -> bool:
        masked = _access_part_masked if record.name == "uvicorn.access" else mask_identity_numbers
        if isinstance(record.msg, str):
            record.msg = masked(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(masked(a) if isinstance(a, str) else a for a in record.args)
        return True


def install(*logger_names: str) -> None:
    for name in logger_names or ("uvicorn.access", "uvicorn.error", "yikatong"):
        logging.getLogger(name).addFilter(MaskIdentityNumbers())
