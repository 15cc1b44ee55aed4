"""The medical domain's HTTP doors under /api/v1/medical.

At merge with medapi's api.py keep theirs and add: `router.include_router(crossregion_api.router)`."""

from __future__ import annotations

from fastapi import APIRouter

from yikatong.medical import crossregion_api

router = APIRouter()
router.include_router(crossregion_api.router)
