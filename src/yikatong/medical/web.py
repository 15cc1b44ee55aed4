"""The medical domain's pages (medpages writes them here; at merge keep theirs and add
`router.include_router(filing_pages.router)`)."""

from __future__ import annotations

from fastapi import APIRouter

from yikatong.medical import filing_pages

router = APIRouter(include_in_schema=False)
router.include_router(filing_pages.router)
