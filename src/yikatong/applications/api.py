"""Applications API: intake at the outlet, online and by employers; decisions, production,
delivery and hand-over; the card-face proof. Applying is free of charge (四.1)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Header, Query, Response

from yikatong.api.deps import current_actor, platform_dep
from yikatong.api.problems import problems
from yikatong.applications import production, service
from yikatong.applications.errors import ApplicationNotFound
from yikatong.applications.protocols import CardFactory, IdentityAuthenticator, PopulationRegistry
from yikatong.applications.schemas import (
    ApplicationOut,
    CancelIn,
    CollectOut,
    EmployerBatchIn,
    EmployerBatchOut,
    HandOverOut,
    IdentityResolvedIn,
    OnlineApplicationIn,
    OutletApplicationIn,
    ProductionBatchIn,
    ProductionBatchOut,
    RejectIn,
    RowId,
    ShipIn,
)
from yikatong.core.actor import Actor, Role
from yikatong.platform import Platform

router = APIRouter(prefix="/applications", tags=["applications 申领"])



def _batch_out(batch) -> ProductionBatchOut:
    return ProductionBatchOut(**{**asdict(batch), "application_ids": list(batch.application_ids)})


# --- production (declared before /{application_id} so its paths match first) ---------------


@router.post("/production/batches", response_model=ProductionBatchOut, status_code=201,
             responses=problems(503),  # the card factory cannot be reached
             summary="Send approved applications to the card factory / 提交制卡批次")
def start_batch(body: ProductionBatchIn | None = None, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        batch = production.start_production_batch(
            uow=uow, actor=actor, factory=platform.get(CardFactory),
            limit=body.limit if body else None)
    return _batch_out(batch)


@router.post("/production/batches/{batch_id}/collect", response_model=CollectOut,
             responses=problems(503),  # the card factory cannot be reached
             summary="Poll the factory and register produced cards / 回收制卡结果")
def collect_batch(batch_id: RowId, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    outcome = production.collect_production_batch(
        uows=platform.uow, actor=actor, factory=platform.get(CardFactory), batch_id=batch_id,
        personalise=production.chip_personaliser(platform))
    return CollectOut(
        batch=_batch_out(outcome.batch), complete=outcome.complete,
        produced_card_nos=list(outcome.produced_card_nos),
        failures=[{"application_id": a, "reason": r} for a, r in outcome.failures],
        warnings=list(outcome.warnings))


@router.get("/production/batches/{batch_id}", response_model=ProductionBatchOut,
            summary="A production batch / 制卡批次")
def get_batch(batch_id: RowId, _actor: Actor = Depends(current_actor),
              platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return _batch_out(production.get_production_batch(uow=uow, batch_id=batch_id))


# --- intake ------------------------------------------------------------------------------------


@router.post("", response_model=ApplicationOut, status_code=201,
             summary="Apply at an outlet, in person or by an agent (free) / 网点申领（免费）")
def submit_at_outlet(body: OutletApplicationIn, actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep),
                     idempotency_key: str | None = Header(default=None, alias="Idempotency-Key")):
    with platform.uow() as uow:
        app = service.submit_at_outlet(
            uow=uow, actor=actor, applicant=body.applicant.to_data(), choice=body.choice(),
            agent=body.agent.to_data() if body.agent else None, idempotency_key=idempotency_key)
    return ApplicationOut.of(app)


@router.post("/online", response_model=ApplicationOut, status_code=201,
             summary="Apply online after real-name authentication (free) / 网上申领（免费）")
def submit_online(body: OnlineApplicationIn, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep),
                  idempotency_key: str | None = Header(default=None, alias="Idempotency-Key")):
    with platform.uow() as uow:
        app = service.submit_online(
            uow=uow, actor=actor, name=body.name, id_number=body.id_number,
            evidence=body.auth_evidence, choice=body.choice(), phone=body.phone,
            authenticator=platform.get(IdentityAuthenticator),
            registry=platform.get(PopulationRegistry), idempotency_key=idempotency_key,
            photo_jpeg=body.photo())
    return ApplicationOut.of(app)


@router.post("/employer-batches", response_model=EmployerBatchOut, status_code=201,
             summary="Employer applies for many employees (free) / 单位批量申领（免费）")
def submit_employer_batch(body: EmployerBatchIn, actor: Actor = Depends(current_actor),
                          platform: Platform = Depends(platform_dep)):
    batch = service.submit_employer_batch(
        uows=platform.uow, actor=actor, employer_name=body.employer_name,
        agent=body.agent.to_data(), employees=[e.to_row() for e in body.employees],
        uscc=body.uscc, authorisation_letter_ref=body.authorisation_letter_ref)
    return EmployerBatchOut(**asdict(batch))


@router.get("/employer-batches/{batch_id}", response_model=EmployerBatchOut,
            summary="An employer batch with every row's outcome / 单位批量申领结果")
def get_employer_batch(batch_id: RowId, actor: Actor = Depends(current_actor),
                       platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return EmployerBatchOut(**asdict(
            service.get_employer_batch(uow=uow, actor=actor, batch_id=batch_id)))


# --- reading -----------------------------------------------------------------------------------


@router.get("", response_model=list[ApplicationOut],
            summary="List applications, numbers masked / 申请列表（证件号脱敏）")
def list_applications(status: str | None = None, limit: int = Query(100, ge=1, le=500),
                      offset: int = Query(0, ge=0, le=2**63 - 1),
                      _actor: Actor = Depends(current_actor),
                      platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        apps = service.list_applications(uow=uow, status=status, limit=limit, offset=offset)
    return [ApplicationOut.of(app, masked=True) for app in apps]


@router.get("/{application_id}", response_model=ApplicationOut, summary="One application / 申请详情")
def get_application(application_id: RowId, actor: Actor = Depends(current_actor),
                    platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ApplicationOut.of(service.get_application(
            uow=uow, actor=actor, application_id=application_id))


@router.get("/{application_id}/face.png", response_class=Response,
            # 409: the card of the application has not been produced yet (no face to show)
            responses={200: {"content": {"image/png": {}}}, **problems(409)},
            summary="Proof of the card's sides A and B / 卡面（A、B 面）样张")
def face_png(application_id: RowId, actor: Actor = Depends(current_actor),
             platform: Platform = Depends(platform_dep)):
    from yikatong.applications.facecard import render_proof

    with platform.uow() as uow:
        app = service.get_application(uow=uow, actor=actor, application_id=application_id)
        if actor.role == Role.EMPLOYER_AGENT:  # an employer sees the outcome, not the face
            raise ApplicationNotFound(application_id=application_id)
        proof = production.face_proof(uow=uow, application_id=app.id)
    return Response(render_proof(proof), media_type="image/png")


# --- decisions and delivery --------------------------------------------------------------------


@router.post("/{application_id}/approve", response_model=ApplicationOut, summary="Approve / 审核通过")
def approve(application_id: RowId, actor: Actor = Depends(current_actor),
            platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ApplicationOut.of(service.approve(uow=uow, actor=actor,
                                                 application_id=application_id))


@router.post("/{application_id}/reject", response_model=ApplicationOut, summary="Reject / 不予受理")
def reject(application_id: RowId, body: RejectIn, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ApplicationOut.of(service.reject(uow=uow, actor=actor,
                                                application_id=application_id, reason=body.reason))


@router.post("/{application_id}/cancel", response_model=ApplicationOut, summary="Cancel / 撤销申请")
def cancel(application_id: RowId, body: CancelIn, actor: Actor = Depends(current_actor),
           platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ApplicationOut.of(service.cancel(uow=uow, actor=actor,
                                                application_id=application_id, reason=body.reason))


@router.post("/{application_id}/identity-resolved", response_model=ApplicationOut,
             summary="Continue after the manual identity review / 人工核验后继续办理")
def identity_resolved(application_id: RowId, body: IdentityResolvedIn,
                      actor: Actor = Depends(current_actor),
                      platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ApplicationOut.of(service.resolve_identity_review(
            uow=uow, actor=actor, application_id=application_id, person_id=body.person_id))


@router.post("/{application_id}/ready-for-pickup", response_model=ApplicationOut,
             summary="Card arrived at the pickup outlet / 卡已到网点待领")
def ready_for_pickup(application_id: RowId, actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ApplicationOut.of(service.mark_ready_for_pickup(
            uow=uow, actor=actor, application_id=application_id))


@router.post("/{application_id}/ship", response_model=ApplicationOut,
             summary="Mail by EMS cash on delivery (postage only) / EMS 邮寄到付")
def ship(application_id: RowId, body: ShipIn, actor: Actor = Depends(current_actor),
         platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ApplicationOut.of(service.ship(uow=uow, actor=actor, application_id=application_id,
                                              tracking_no=body.tracking_no))


@router.post("/{application_id}/hand-over", response_model=HandOverOut,
             summary="Card handed to the holder (启用) / 领卡启用")
def hand_over(application_id: RowId, actor: Actor = Depends(current_actor),
              platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return HandOverOut.of(service.hand_over(uow=uow, actor=actor,
                                                application_id=application_id))
