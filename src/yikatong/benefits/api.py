"""The benefits domain's HTTP doors under /api/v1/benefits. For now the pension
confirmation's (certification_api.py); the runs' and payee lists' join here."""

from __future__ import annotations

from fastapi import APIRouter

from yikatong.benefits import certification_api

router = APIRouter()
router.include_router(certification_api.router)  # /benefits/pension/...
