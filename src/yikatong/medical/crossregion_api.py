"""Cross-region care filing (异地就医备案) through the JSON API, under /api/v1/medical.

* The medical insurance office (Role.MEDICAL_OFFICE, at its desk): files for a person it
  insures (`begin` before today = a filing after the fact, 补办), lists a person's filings,
  cancels one (from a day; the days before keep their cover).
* The holder (Role.HOLDER, standing in for the national APP and 江苏医保云 APP): files a
  temporary or long-term stay for themselves from today on, lists and cancels their own.

Every filing carries an Idempotency-Key (the filing's request id): a retry answers the first
filing. The rules are `crossregion.file_for` / `cancel_for` (docs/medical-cross-region.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Path

from yikatong.api.deps import current_actor, platform_dep
from yikatong.core.actor import Actor
from yikatong.medical import crossregion
from yikatong.medical.crossregion_schemas import FilingCancelIn, FilingIn, FilingOut, MyFilingIn
from yikatong.platform import Platform

router = APIRouter(prefix="/medical", tags=["medical 医疗保险"])

KEY = Header(alias="Idempotency-Key", min_length=8, max_length=128)


def _out(view: crossregion.FilingView) -> FilingOut:
    return FilingOut.model_validate(view)


@router.post("/filings", response_model=FilingOut, status_code=201,
             summary="File a person's cross-region care (also after the fact) / 办理异地就医备案（含补办）")
def file_filing(body: FilingIn, idempotency_key: str = KEY, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _out(crossregion.file_for(uow=uow, actor=actor, request_id=f"office:{idempotency_key}",
                                         person_id=body.person_id, filed_admdvs=body.filed_admdvs,
                                         reason=body.reason, begin=body.begin, end=body.end))


@router.get("/people/{person_id}/filings", response_model=list[FilingOut],
            summary="A person's cross-region filings / 参保人的异地就医备案")
def person_filings(person_id: int = Path(ge=1, le=2**63 - 1), actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return [_out(view) for view in crossregion.filings(uow=uow, person_id=person_id)]


@router.get("/filings/{filing_id}", response_model=FilingOut, summary="One filing / 一份异地就医备案")
def get_filing(filing_id: int = Path(ge=1, le=2**63 - 1), actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _out(crossregion.get_filing(uow=uow, actor=actor, filing_id=filing_id))


@router.post("/filings/{filing_id}/cancel", response_model=FilingOut,
             summary="Cancel a filing from a day / 撤销异地就医备案")
def cancel_filing(body: FilingCancelIn, filing_id: int = Path(ge=1, le=2**63 - 1), actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _out(crossregion.cancel_for(uow=uow, actor=actor, filing_id=filing_id, reason=body.reason,
                                           effective=body.effective))


@router.post("/me/filings", response_model=FilingOut, status_code=201,
             summary="File my own temporary or long-term stay / 本人在线办理异地就医备案")
def file_my_filing(body: MyFilingIn, idempotency_key: str = KEY, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _out(crossregion.file_for(uow=uow, actor=actor, request_id=f"holder:{actor.person_id}:{idempotency_key}",
                                         person_id=actor.person_id or 0, filed_admdvs=body.filed_admdvs,
                                         reason=body.reason, begin=body.begin, end=body.end))


@router.get("/me/filings", response_model=list[FilingOut], summary="My cross-region filings / 我的异地就医备案")
def my_filings(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        if actor.person_id is None:
            return []
        return [_out(view) for view in crossregion.filings(uow=uow, person_id=actor.person_id)]
