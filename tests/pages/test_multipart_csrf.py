"""A multipart form's CSRF token is read from its first part only (pages.sessions; asgi-csrf
0.11 cannot parse multipart bodies)."""

from __future__ import annotations

from yikatong.pages.sessions import _token_of_first_part

BOUNDARY = b"----b"


def body(*parts: tuple[str, bytes, str | None]) -> bytes:
    out = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += b"--" + BOUNDARY + b"\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n"
        out += value + b"\r\n"
    return out + b"--" + BOUNDARY + b"--\r\n"


def test_the_token_of_the_first_field_is_read():
    assert _token_of_first_part(body(("csrf_token", b"abc.def", None),
                                     ("csv_file", b"x,y", "a.csv"))) == b"abc.def"


def test_a_token_after_another_part_is_not_read():
    assert _token_of_first_part(body(("csv_file", b"x,y", "a.csv"),
                                     ("csrf_token", b"abc.def", None))) is None
    assert _token_of_first_part(body(("name", b"n", None), ("csrf_token", b"abc", None))) is None


def test_a_file_named_like_the_token_is_not_a_token():
    assert _token_of_first_part(body(("csrf_token", b"abc", "csrf_token"))) is None


def test_a_body_cut_before_the_first_part_ends_has_no_token():
    assert _token_of_first_part(body(("csrf_token", b"abc", None))[:60]) is None
