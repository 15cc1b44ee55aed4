"""The benefits domain's HTTP doors under /api/v1/benefits: the payee lists, runs and the
holder's payments (disbursement_api.py) and the pension confirmation's (certification_api.py)."""

from __future__ import annotations

from fastapi import APIRouter

from yikatong.benefits import certification_api, disbursement_api

router = APIRouter()
router.include_router(certification_api.router)  # /benefits/pension/...
router.include_router(disbursement_api.router)  # /benefits/programmes/..., /benefits/me/payments
