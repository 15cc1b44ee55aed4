"""The benefits domain's pages (mounted at the site root). For now the pension confirmation's
(certification_web.py); the paying office's and the holder's payment pages join here."""

from __future__ import annotations

from fastapi import APIRouter

from yikatong.benefits import certification_web

router = APIRouter(include_in_schema=False)
router.include_router(certification_web.router)  # /me/pension, /counter/pension, /office/pension
