"""The medical domain's HTTP doors under /api/v1/medical: the designated institutions'
national-style interface (interface.py)."""

from __future__ import annotations

from fastapi import APIRouter

from yikatong.medical import interface

router = APIRouter()
router.include_router(interface.router)
