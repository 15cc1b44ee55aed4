"""Structured logs (observability.logs): JSON lines, masked whatever logger wrote them and
however the record reached the handler."""

from __future__ import annotations

import json
import logging
import logging.config

import pytest

from yikatong.observability.logs import ACCESS_LINE, JsonFormatter, MaskingFilter, log_config
from yikatong.observability.redaction import mask

ID = "320402199003070013"
MOBILE = "13812345678"


def record(name: str, msg: str, args=(), exc_info=None, **extra) -> logging.LogRecord:
    made = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args, exc_info)
    made.__dict__.update(extra)
    return made


def test_a_json_line_has_its_fields_and_no_personal_data():
    try:
        raise ValueError(f"no person {ID}")
    except ValueError as error:
        failure = (type(error), error, error.__traceback__)
    line = JsonFormatter().format(record(
        "yikatong.people", "looked up %s by %s", (ID, "１３８ １２３４ ５６７８"), failure,
        holder={"mobile": MOBILE, "pin": "123456"}, api_key="secret-key-value"))
    data = json.loads(line)
    assert data["level"] == "INFO" and data["logger"] == "yikatong.people"
    assert data["ts"].endswith("+00:00") and isinstance(data["pid"], int)
    assert data["msg"] == "looked up 320402********0013 by 138****5678"
    assert "ValueError: no person 320402********0013" in data["exc"]
    assert data["holder"] == {"mobile": "138****5678", "pin": "[redacted]"}
    assert data["api_key"] == "[redacted]"
    for secret in (ID, MOBILE, "123456", "secret-key-value"):
        assert secret not in line


def test_uvicorn_s_access_line_becomes_fields_with_the_path_masked():
    line = JsonFormatter().format(record(
        "uvicorn.access", '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/api/v1/people?mobile=%2B86{MOBILE}", "1.1", 200)))
    data = json.loads(line)
    assert (data["method"], data["status"]) == ("GET", 200)
    assert data["path"] == "/api/v1/people?mobile=+86138****5678"  # an escape in a match: decoded
    assert MOBILE not in line


def test_the_text_filter_masks_message_arguments_and_traceback():
    try:
        raise KeyError(ID)
    except KeyError as error:
        made = record("x", "card of %s", (MOBILE,), (type(error), error, error.__traceback__))
    MaskingFilter().filter(made)
    text = logging.Formatter("%(message)s").format(made)
    assert "138****5678" in text and MOBILE not in text and ID not in text


def test_the_text_filter_masks_an_access_line_part_by_part_as_the_whole_line():
    """uvicorn's access line is masked client, method and path apart (the path remembered:
    observability.logs.masked_path): the same text as the whole line masked, for paths
    holding an identity or mobile number plain, escaped, grouped, full-width or in base64, a
    secret in the query, and a card's path twice (the second from the cache)."""
    import base64

    hidden = base64.urlsafe_b64encode(f"ssn={ID}".encode()).decode()
    paths = [f"/api/v1/people/{ID}", f"/api/v1/people?mobile=%2B86{MOBILE}",
             "/api/v1/people?q=3204%2002%201990%200307%200013", f"/x/{hidden}",
             "/api/v1/people?q=１３８１２３４５６７８", "/api/v1/auth/token?password=hunter22&x=1",
             "/api/v1/cards/C00000001", "/api/v1/cards/C00000001", f"/a%7C{ID}", "/",
             "/api/v1/transit/contacts/8c0e9a8e-3b7e-4f0b-9a53-3e1f2b1c0d4e"]
    clients = ["127.0.0.1:5", f"{MOBILE}:0", "key:1234"]
    for client in clients:
        for path in paths:
            args = (client, "GET", path, "1.1", 200)
            made = record("uvicorn.access", ACCESS_LINE, args)
            MaskingFilter().filter(made)
            assert made.getMessage() == mask(ACCESS_LINE % args), path
            assert ID not in made.getMessage() and MOBILE not in made.getMessage()


@pytest.fixture
def configured(capsys):
    """The server's logging configuration applied (its lines read with capsys); put back afterwards."""
    loggers = {name: logging.getLogger(name) for name in ("", "uvicorn", "uvicorn.error", "uvicorn.access")}
    saved = {name: (lg.handlers[:], lg.level, lg.propagate, lg.filters[:]) for name, lg in loggers.items()}
    yield capsys
    for name, (handlers, level, propagate, filters) in saved.items():
        loggers[name].handlers[:] = handlers
        loggers[name].setLevel(level)
        loggers[name].propagate = propagate
        loggers[name].filters[:] = filters


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_the_server_configuration_masks_what_any_logger_propagates(configured, fmt):
    logging.config.dictConfig(log_config(fmt))
    logging.getLogger("sqlalchemy.engine.Engine").warning("parameters ('%s',)", ID)
    logging.getLogger("yikatong.deep.module").info("sms to %s", MOBILE)
    written = configured.readouterr().err
    assert ID not in written and MOBILE not in written
    assert "320402********0013" in written and "138****5678" in written
    if fmt == "json":
        lines = [json.loads(line) for line in written.splitlines()]
        assert [line["logger"] for line in lines] == ["sqlalchemy.engine.Engine", "yikatong.deep.module"]
