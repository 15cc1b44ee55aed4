"""Register the crypto package's seams on the platform."""

from __future__ import annotations

from yikatong.crypto.sm import check_backend


def configure(platform) -> None:
    # Fail at start-up, not at the first card tap, when OpenSSL lacks SM3/SM4.
    check_backend()
