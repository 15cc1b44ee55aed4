"""Render a QR token as an image (segno). The token is upper-case base32 behind "YKT1.", so
the whole text fits QR's dense alphanumeric mode."""

from __future__ import annotations

import io

import segno


def _code(token: str) -> segno.QRCode:
    return segno.make_qr(token, error="m")


def render_png(token: str, *, scale: int = 6) -> bytes:
    buffer = io.BytesIO()
    _code(token).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def render_svg(token: str, *, scale: int = 6) -> bytes:
    buffer = io.BytesIO()
    _code(token).save(buffer, kind="svg", scale=scale, border=4, xmldecl=False)
    return buffer.getvalue()
