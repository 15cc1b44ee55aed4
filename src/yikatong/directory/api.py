"""Public reference data: no login needed."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from yikatong.api.deps import platform_dep
from yikatong.directory import service
from yikatong.directory.rules import OUTLET_KINDS
from yikatong.directory.schemas import BankOut, HotlineOut, OutletOut
from yikatong.platform import Platform

router = APIRouter(prefix="/directory", tags=["directory 名录"])


@router.get("/banks", response_model=list[BankOut], summary="Partner banks / 合作银行")
def banks(platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return [BankOut(code=b.code, name_zh=b.name_zh, short_name_zh=b.short_name_zh,
                        name_en=b.name_en, hotline=b.hotline, ecard_channel=b.ecard_channel,
                        bin_prefixes=list(b.bin_prefixes))
                for b in service.list_banks(uow=uow)]


@router.get("/outlets", response_model=list[OutletOut], summary="Outlets / 服务网点")
def outlets(kind: str | None = None, platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return [OutletOut(code=o.code, kind=o.kind, kind_zh=OUTLET_KINDS[o.kind][0],
                          kind_en=OUTLET_KINDS[o.kind][1], name=o.name, district=o.district,
                          bank_code=o.bank_code, refunds_transit_balance=o.refunds_transit_balance)
                for o in service.list_outlets(uow=uow, kind=kind)]


@router.get("/hotlines", response_model=dict[str, HotlineOut], summary="Hotlines / 咨询电话")
def hotlines():
    return service.hotlines()
