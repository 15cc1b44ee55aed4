"""The benefits domain's pages (mounted at the site root): the paying office's runs and the
holder's payments (disbursement_web.py), the pension confirmation's (certification_web.py)."""

from __future__ import annotations

from fastapi import APIRouter

from yikatong.benefits import certification_web, disbursement_web

router = APIRouter(include_in_schema=False)
router.include_router(certification_web.router)  # /me/pension, /counter/pension, /office/pension
router.include_router(disbursement_web.router)  # /office/runs, /me/payments
