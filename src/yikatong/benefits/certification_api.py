"""The pension confirmation's JSON doors under /api/v1/benefits/pension: the holder confirms
with the card or the e-card, an outlet confirms for a person at the counter, the paying office
(CZ-SI) follows pensioners, lapses, deaths and recoveries. The rules are certification.py and
recovery.py, the same as the pages' (certification_web.py)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from yikatong.api.deps import current_actor, platform_dep
from yikatong.api.problems import problems
from yikatong.benefits import certification, recovery
from yikatong.core.actor import Actor
from yikatong.core.errors import Forbidden
from yikatong.core.response_models import response_model
from yikatong.platform import Platform

router = APIRouter(prefix="/benefits/pension", tags=["pension certification / 待遇资格认证"])

PersonId = Path(ge=1, le=2**63 - 1)


EligibilityOut = response_model(certification.EligibilityView, name="EligibilityOut")
CertificationOut = response_model(certification.CertificationView, name="CertificationOut")
SuspensionOut = response_model(certification.SuspensionView, name="SuspensionOut",
                               exclude=("person_id",))
RecoveryOut = response_model(recovery.RecoveryView, name="RecoveryOut",
                             exclude=("card_no", "status_zh", "status_en"))


class PensionerOut(BaseModel):
    eligibility: EligibilityOut
    certifications: list[CertificationOut]
    suspensions: list[SuspensionOut]
    recoveries: list[RecoveryOut]


class HolderCertifyIn(BaseModel):
    channel: Literal["card", "ecard"]
    card_no: str | None = Field(default=None, max_length=9, description="the card read (channel card)")
    request_id: str = Field(min_length=1, max_length=100)


class CounterCertifyIn(BaseModel):
    channel: Literal["outlet", "card"] = "outlet"
    documents: str | None = Field(default=None, max_length=200, description="identity documents seen / 核验证件")
    card_no: str | None = Field(default=None, max_length=9)
    request_id: str = Field(min_length=1, max_length=100)


class RegisterIn(BaseModel):
    person_id: int = Field(ge=1, le=2**63 - 1)
    since: date = Field(description="the pension's first day / 待遇起始日")


@router.get("/me", response_model=PensionerOut, responses=problems(404), summary="My pension confirmation / 我的待遇资格认证")
def mine(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    return _pensioner(platform, _holder(actor))


@router.post("/me/certifications", response_model=CertificationOut, status_code=201,
             summary="Confirm with my card or e-card / 本人认证")
def certify_mine(body: HolderCertifyIn, actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    person_id = _holder(actor)
    with platform.uow() as uow:
        view = certification.confirm(uow=uow, actor=actor, person_id=person_id, channel=body.channel,
                                     card_no=body.card_no,
                                     request_id=f"holder:{person_id}:{body.request_id}")
    return CertificationOut.model_validate(view)


@router.post("/people/{person_id}/certifications", response_model=CertificationOut, status_code=201,
             summary="Confirm at the outlet counter / 网点柜面认证")
def certify_at_counter(body: CounterCertifyIn, person_id: int = PersonId,
                       actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = certification.confirm(uow=uow, actor=actor, person_id=person_id, channel=body.channel,
                                     card_no=body.card_no, documents=body.documents,
                                     request_id=f"outlet:{actor.user_id}:{body.request_id}")
    return CertificationOut.model_validate(view)


@router.get("/pensioners", response_model=list[EligibilityOut],
            summary="Pensioners: due, suspended, deceased / 待遇人员认证状态")
def pensioners(status: Literal["due", "suspended", "deceased", "active"] | None = Query(default=None),
               limit: int = Query(default=200, ge=1, le=1000),
               actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [EligibilityOut.model_validate(v) for v in
                certification.pensioners(uow=uow, actor=actor, status=status, limit=limit)]


@router.post("/pensioners", response_model=EligibilityOut, status_code=201,
             summary="Follow a new pensioner / 登记待遇人员")
def register(body: RegisterIn, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = certification.register_pensioner(uow=uow, actor=actor, person_id=body.person_id,
                                                since=body.since)
    return EligibilityOut.model_validate(view)


@router.get("/pensioners/{person_id}", response_model=PensionerOut,
            summary="One pensioner: confirmations, suspensions, recoveries / 待遇人员详情")
def pensioner(person_id: int = PersonId, actor: Actor = Depends(current_actor),
              platform: Platform = Depends(platform_dep)):
    certification._require_office(actor)
    return _pensioner(platform, person_id)


@router.get("/recoveries", response_model=list[RecoveryOut],
            summary="Overpayments after death / 死亡后多发待遇追回")
def recoveries(status: Literal["owed", "recovered"] | None = Query(default=None),
               actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow(read_only=True) as uow:
        return [RecoveryOut.model_validate(v) for v in
                recovery.recoveries(uow=uow, actor=actor, status=status)]


@router.post("/recoveries/collect", response_model=list[RecoveryOut],
             summary="Ask the bank to debit the owed recoveries / 发起银行追回")
def collect(actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return [RecoveryOut.model_validate(v) for v in recovery.collect(uow=uow, actor=actor)]


def _holder(actor: Actor) -> int:
    if actor.person_id is None:
        raise Forbidden(zh="只有持卡人本人可以办理", en="Only the holder may do this")
    return actor.person_id


def _pensioner(platform: Platform, person_id: int) -> PensionerOut:
    with platform.uow(read_only=True) as uow:
        return PensionerOut(
            eligibility=EligibilityOut.model_validate(certification.eligibility_of(uow=uow, person_id=person_id)),
            certifications=[CertificationOut.model_validate(v) for v in
                            certification.certifications_of(uow=uow, person_id=person_id)],
            suspensions=[SuspensionOut.model_validate(v) for v in
                         certification.suspensions_of(uow=uow, person_id=person_id)],
            recoveries=[RecoveryOut.model_validate(v) for v in
                        recovery.recoveries_of(uow=uow, person_id=person_id)])
