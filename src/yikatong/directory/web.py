"""The card centre's reference data, read-only: outlets, partner banks and transit fares, each
with the version in force. The directory keeps one version (the packaged reference file as
last loaded, audited: directory.service.directory_version); the fares are versioned files, the
one in force chosen by its effective date (transit.fare_config.config_in_force)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from yikatong.api.deps import current_actor, platform_dep
from yikatong.core.actor import Actor
from yikatong.directory import service
from yikatong.directory.rules import OUTLET_KINDS
from yikatong.pages.rendering import render
from yikatong.platform import Platform

router = APIRouter(include_in_schema=False)


@router.get("/centre/reference/outlets")
def outlets(request: Request, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        rows = service.list_outlets(uow=uow)
        version = service.directory_version(uow=uow)
    return render(request, "directory/outlets.html", {
        "outlets": rows, "version": version, "outlet_kinds": OUTLET_KINDS})


@router.get("/centre/reference/banks")
def banks(request: Request, actor: Actor = Depends(current_actor),
          platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        rows = service.list_banks(uow=uow)
        version = service.directory_version(uow=uow)
    return render(request, "directory/banks.html", {"banks": rows, "version": version})


@router.get("/centre/reference/fares")
def fares(request: Request, actor: Actor = Depends(current_actor),
          platform: Platform = Depends(platform_dep)):
    """The fare configuration the platform rates with (clearing.receive.fares_of), and whether
    it is the version in force today."""
    from yikatong.clearing.receive import fares_of
    from yikatong.core.errors import DomainError
    from yikatong.transit.fare_config import config_in_force

    config = fares_of(platform)
    with platform.uow(read_only=True) as uow:
        now = uow.now()
    try:
        in_force = config_in_force([config], now) is config
    except DomainError:  # its effective date is still ahead: no version in force yet
        in_force = False
    return render(request, "directory/fares.html", {
        "config": config, "in_force": in_force, "now": now})
