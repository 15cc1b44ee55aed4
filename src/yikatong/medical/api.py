"""The medical domain's HTTP doors under /api/v1/medical: the designated institutions'
national-style interface (interface.py) and cross-region filing (crossregion_api.py)."""

from __future__ import annotations

from fastapi import APIRouter

from yikatong.medical import crossregion_api, interface

router = APIRouter()
router.include_router(interface.router)
router.include_router(crossregion_api.router)
