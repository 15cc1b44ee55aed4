"""People API: register applicants, read people, photos, corrections, manual reviews.

Static paths come before `/{person_id}` so "corrections" is never read as a person id.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter, Body, Depends, Query, Response

from yikatong.api.deps import current_actor, platform_dep
from yikatong.auth.throttle import throttle_of
from yikatong.core.actor import Actor, Role
from yikatong.core.clock import local_date
from yikatong.people import errors, privacy, rules, service
from yikatong.people.config import PeopleConfig
from yikatong.people.schemas import (
    ApplicantOut,
    CodeSentOut,
    CorrectionIn,
    CorrectionOut,
    DecisionIn,
    DisclosureIn,
    DisclosureOut,
    IdCheckIn,
    IdCheckOut,
    JiangsuCardRecordOut,
    OwnPhoneChangeIn,
    PersonOut,
    PersonPageOut,
    PersonSummaryOut,
    PhoneChangedOut,
    PhoneChangeIn,
    PhotoReportOut,
    ProvincialCardDeclarationIn,
    RegisterIn,
    ResolveIn,
    ReviewOut,
    RowId,
    decode_photo,
    warning_messages,
)
from yikatong.platform import Platform

router = APIRouter(prefix="/people", tags=["people 人员"])



def _visible_person_id(uow, actor: Actor, person_id: int) -> int:
    # A holder sees only their own record, an employer agent only their employer's
    # employees; anyone else's reads as missing (no existence leak).
    from yikatong.employers.service import may_see_person
    from yikatong.people.guardians import may_act_for  # their own, or a child's under 16

    if actor.role is Role.HOLDER and not may_act_for(uow, actor, person_id):
        raise errors.PersonNotFound(person_id=person_id)
    if not may_see_person(uow=uow, actor=actor, person_id=person_id):
        raise errors.PersonNotFound(person_id=person_id)
    return person_id


def _check_employer_registers_own(uow, actor: Actor, person_id: int | None) -> None:
    """An employer agent registers only people already linked to their employer (the
    employer batch makes the links); anyone else, existing or new, answers the same 404 and
    nothing is kept (the transaction is not committed)."""
    from yikatong.employers.service import may_see_person

    if not may_see_person(uow=uow, actor=actor, person_id=person_id):
        raise errors.PersonNotFound()


@router.post("/applicants", response_model=ApplicantOut, summary="Register an applicant / 登记申领人")
def register_applicant(body: RegisterIn, actor: Actor = Depends(current_actor),
                       platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        outcome = service.register_applicant(
            uow=uow, actor=actor, name=body.name, document_type=body.document_type,
            document_number=body.document_number, gender=body.gender,
            birth_date=body.birth_date, nationality=body.nationality, phone=body.phone,
            address=body.address, document_valid_until=body.document_valid_until,
            photo_jpeg=decode_photo(body.photo_jpeg_base64), holds_id_card=body.holds_id_card,
            as_of=local_date(uow.now()), config=platform.get(PeopleConfig),
        )
        _check_employer_registers_own(uow, actor, outcome.person_id)
        uow.commit()
    return ApplicantOut.from_view(outcome, warnings=warning_messages(outcome.warnings))


@router.get("", response_model=PersonPageOut, summary="List people (masked) / 人员列表")
def list_people(name: str | None = None, ssn: str | None = None,
                limit: int = Query(50, ge=1, le=200), offset: int = Query(0, ge=0, le=2**63 - 1),
                actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        people, total = service.list_people(uow=uow, name=name, ssn=ssn, limit=limit,
                                            offset=offset)
        whole = privacy.sees_whole(uow, actor)
    return PersonPageOut(total=total, items=[PersonSummaryOut.of(p, whole=whole) for p in people])


@router.post("/id-numbers/check", response_model=IdCheckOut, summary="Check an ID number / 证件号码校验")
def check_id_number(body: IdCheckIn, actor: Actor = Depends(current_actor),
                    platform: Platform = Depends(platform_dep)):
    info = rules.classify_id_number(body.number, today=local_date(platform.clock.now()))
    return IdCheckOut(kind=info.kind, number=info.number, number_masked=rules.mask_ssn(info.number),
                      birth_date=info.birth_date, gender=info.gender,
                      region_code=info.region_code, region_name=info.region_name,
                      warnings=warning_messages(info.warnings))


@router.get("/corrections", response_model=list[CorrectionOut],
            summary="Corrections, numbers masked / 信息更正列表（证件号脱敏）")
def list_corrections(status: str | None = "pending", person_id: RowId | None = None,
                     actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        whole = privacy.sees_whole(uow, actor)
        return [CorrectionOut.of(c, full=False, whole=whole) for c in
                service.list_corrections(uow=uow, status=status, person_id=person_id)]


@router.get("/corrections/{correction_id}", response_model=CorrectionOut,
            summary="One correction / 信息更正详情")
def get_correction(correction_id: RowId, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return CorrectionOut.of(service.get_correction(uow=uow, correction_id=correction_id),
                                whole=privacy.sees_whole(uow, actor))


@router.post("/corrections/{correction_id}/approve", response_model=CorrectionOut,
             summary="Approve a correction (second operator) / 审核通过信息更正")
def approve_correction(correction_id: RowId, body: DecisionIn,
                       actor: Actor = Depends(current_actor),
                       platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = service.approve_correction(uow=uow, actor=actor, correction_id=correction_id,
                                          reason=body.reason)
        uow.commit()
        return CorrectionOut.of(view, whole=privacy.sees_whole(uow, actor))


@router.post("/corrections/{correction_id}/reject", response_model=CorrectionOut,
             summary="Reject a correction / 驳回信息更正")
def reject_correction(correction_id: RowId, body: DecisionIn,
                      actor: Actor = Depends(current_actor),
                      platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = service.reject_correction(uow=uow, actor=actor, correction_id=correction_id,
                                         reason=body.reason or "")
        uow.commit()
        return CorrectionOut.of(view, whole=privacy.sees_whole(uow, actor))


def _committed_review(uow, actor: Actor, view) -> ReviewOut:
    """A decided review, committed, as this reader sees it (masked or whole, people/privacy.py)."""
    uow.commit()
    return ReviewOut.of(view, full=True, whole=privacy.sees_whole(uow, actor))


@router.get("/reviews", response_model=list[ReviewOut], summary="Manual reviews / 人工审核列表")
def list_reviews(status: str | None = "open", actor: Actor = Depends(current_actor),
                 platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        whole = privacy.sees_whole(uow, actor)
        return [ReviewOut.of(r, whole=whole) for r in service.list_reviews(uow=uow, status=status)]


@router.get("/reviews/{review_id}", response_model=ReviewOut, summary="One review / 人工审核详情")
def get_review(review_id: RowId, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        return ReviewOut.of(service.get_review(uow=uow, review_id=review_id), full=True,
                            whole=privacy.sees_whole(uow, actor))


@router.post("/reviews/{review_id}/resolve", response_model=ReviewOut,
             summary="Resolve a review: merge or distinct / 处理人工审核")
def resolve_review(review_id: RowId, body: ResolveIn,
                   actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = service.resolve_review(uow=uow, actor=actor, review_id=review_id,
                                      resolution=body.resolution, reason=body.reason,
                                      person_id=body.person_id,
                                      config=platform.get(PeopleConfig))
        return _committed_review(uow, actor, view)


@router.post("/reviews/{review_id}/approve", response_model=ReviewOut,
             summary="Approve a review's merge (second operator) / 审批人工审核的合并结论")
def approve_review(review_id: RowId, body: DecisionIn, actor: Actor = Depends(current_actor),
                   platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = service.approve_review(uow=uow, actor=actor, review_id=review_id,
                                      reason=body.reason)
        return _committed_review(uow, actor, view)


@router.post("/reviews/{review_id}/reject", response_model=ReviewOut,
             summary="Reject a review's merge (second operator) / 驳回人工审核的合并结论")
def reject_review(review_id: RowId, body: DecisionIn, actor: Actor = Depends(current_actor),
                  platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = service.reject_review(uow=uow, actor=actor, review_id=review_id,
                                     reason=body.reason or "")
        return _committed_review(uow, actor, view)


@router.post("/me/phone/code", response_model=CodeSentOut, status_code=202,
             summary="Text a code to my phone on file, to change it / 向原手机号发送更换验证码")
def send_phone_change_code(actor: Actor = Depends(current_actor),
                           platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        sent_to = service.send_phone_change_code(uow=uow, actor=actor)
        uow.commit()
    return CodeSentOut(sent_to=sent_to)


@router.put("/me/phone", response_model=PhoneChangedOut,
            summary="Change my phone: old number's code and the card's PIN / 凭原手机验证码和卡片密码更换手机号")
def change_own_phone(body: OwnPhoneChangeIn, actor: Actor = Depends(current_actor),
                     platform: Platform = Depends(platform_dep)):
    from yikatong.cards.protocols import CardPinCheck

    with platform.uow() as uow:
        view = service.change_own_phone(uow=uow, actor=actor, phone=body.phone, code=body.code,
                                        pin=body.pin.get_secret_value(),
                                        pin_check=platform.get(CardPinCheck))
        uow.commit()
    return PhoneChangedOut.of(view)


@router.put("/{person_id}/phone", response_model=PhoneChangedOut,
            summary="Change the phone on file, holder in person at the counter / 网点柜台更换手机号")
def change_phone_at_outlet(person_id: RowId, body: PhoneChangeIn,
                           actor: Actor = Depends(current_actor),
                           platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = service.change_phone_at_outlet(uow=uow, actor=actor, person_id=person_id,
                                              phone=body.phone)
        uow.commit()
    return PhoneChangedOut.of(view)


@router.post("/{person_id}/provincial-card-declarations", response_model=JiangsuCardRecordOut,
             status_code=201,
             summary="Record an old provincial card presented at an outlet / 登记持有的原江苏省社保卡")
def declare_provincial_card(person_id: RowId, body: ProvincialCardDeclarationIn,
                            actor: Actor = Depends(current_actor),
                            platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        record = service.declare_provincial_card(uow=uow, actor=actor, person_id=person_id,
                                                 old_card_no=body.old_card_no)
        uow.commit()
    return JiangsuCardRecordOut.model_validate(record)


@router.get("/{person_id}", response_model=PersonOut, summary="One person / 人员信息")
def get_person(person_id: RowId, actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        person_id = _visible_person_id(uow, actor, person_id)
        return PersonOut.of(service.get_person(uow=uow, person_id=person_id),
                            whole=privacy.sees_whole(uow, actor))


@router.post("/{person_id}/disclosures", response_model=DisclosureOut,
             summary="See a masked record whole, once, with a reason (audited) / 说明理由查看完整个人信息")
def disclose_person(person_id: RowId, body: DisclosureIn, actor: Actor = Depends(current_actor),
                    platform: Platform = Depends(platform_dep)):
    throttle_of(platform).hit("personal_data_disclosure", f"user:{actor.account_id or actor.user_id}")
    with platform.uow() as uow:
        view, jpeg = service.disclose_person(
            uow=uow, actor=actor, person_id=_visible_person_id(uow, actor, person_id),
            reason_code=body.reason_code, note=body.note)
        uow.commit()
    return DisclosureOut(person=PersonOut.of(view), reason_code=body.reason_code,
                         photo_base64=base64.b64encode(jpeg).decode() if jpeg else None)


@router.get("/{person_id}/photo", response_class=Response, summary="The photo / 照片",
            responses={200: {"content": {"image/jpeg": {}}}})
def get_photo(person_id: RowId, actor: Actor = Depends(current_actor),
              platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        jpeg = service.get_photo(uow=uow, person_id=_visible_person_id(uow, actor, person_id))
        if not privacy.sees_whole(uow, actor):
            raise errors.PhotoMasked()
    if jpeg is None:
        raise errors.PhotoNotFound(person_id=person_id)
    return Response(content=jpeg, media_type="image/jpeg")


@router.put("/{person_id}/photo", response_model=PhotoReportOut,
            summary="Upload or replace the photo (body: image/jpeg) / 上传照片")
def put_photo(person_id: RowId, jpeg: bytes = Body(media_type="image/jpeg"),
              actor: Actor = Depends(current_actor),
              platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        report = service.upload_photo(uow=uow, actor=actor, jpeg=jpeg,
                                      person_id=_visible_person_id(uow, actor, person_id))
        uow.commit()
    return PhotoReportOut.of(report)


@router.post("/{person_id}/corrections", response_model=CorrectionOut, status_code=201,
             summary="Propose a correction of core data / 提出信息更正")
def propose_correction(person_id: RowId, body: CorrectionIn,
                       actor: Actor = Depends(current_actor),
                       platform: Platform = Depends(platform_dep)):
    with platform.uow() as uow:
        view = service.propose_correction(
            uow=uow, actor=actor, person_id=person_id, reason=body.reason,
            changes=body.changes.model_dump(exclude_none=True))
        uow.commit()
        return CorrectionOut.of(view, whole=privacy.sees_whole(uow, actor))
