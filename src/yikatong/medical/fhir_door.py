"""The FHIR door's use cases: a posted resource in, the medical services called, a resource out.

Every figure and every decision comes from the services the national interface uses too
(`medical.service.identify` for 1101/2001, `medical.visits` for 2201/2204/2207/2208); this
module only reads requests (`medical.fhir`), scopes them to the acting institution, and turns
the services' answers into resources.

A Claim is settled as the national interface would: register (2201), upload its fee lines
(2204), settle (2207), each call with a message id derived from the Claim's identifier, so a
retry after a failure anywhere repeats the same messages, which the services answer as the
first time without changing anything. The Claim's identifier is also remembered (the
platform's idempotency records, scope `medical.fhir.claim:{fixmedins_code}`) with the
settlement it produced: the same identifier again answers that settlement's ClaimResponse as
it stands now, a different Claim under the same identifier is refused (409).
"""

from __future__ import annotations

from datetime import date

from yikatong.core.actor import Actor, Role
from yikatong.core.errors import Forbidden
from yikatong.db.uow import UnitOfWork
from yikatong.medical import fhir, service
from yikatong.medical.errors import (
    CredentialRefused,
    InstitutionInactive,
    InsuredNotFound,
    NotEnrolled,
    UnknownCertType,
)
from yikatong.platform import Platform

# The refusals a benefit check answers inside a CoverageEligibilityResponse (outcome error)
# rather than as an error of the request.
ELIGIBILITY_REFUSALS = (CredentialRefused, NotEnrolled, InsuredNotFound, UnknownCertType)


class ProviderNotYou(Forbidden):
    code = "fhir_provider_not_you"
    zh = "请求中的定点医药机构（provider）不是当前登录的机构"
    en = "The provider named in the request is not the institution signed in"


def acting_institution(uow: UnitOfWork, actor: Actor) -> str | None:
    """The fixmedins_code of the institution acting (registered and not suspended), or None
    for the medical insurance office (which sees every institution's visits)."""
    if actor.role is Role.MEDICAL_OFFICE:
        return None
    institution = service.institution_of(uow, actor)
    if not institution.active:
        raise InstitutionInactive(code=institution.code)
    return institution.code


def _check_provider(institution: str | None, named: str | None) -> None:
    if institution is not None and named is not None and named != institution:
        raise ProviderNotYou()


def coverage_facts(view: service.EnrolmentView) -> fhir.CoverageFacts:
    return fhir.CoverageFacts(coverage_id=str(view.id), psn_no=view.psn_no, scheme=view.scheme,
                              admdvs=view.insured_admdvs, start=view.start_date,
                              end=view.end_date, retired=view.retired,
                              employer=view.employer_name)


def search_coverage(*, platform: Platform, actor: Actor, credential: fhir.Credential,
                    day: date | None = None) -> list:
    """The enrolments of the person a credential identifies, enrolled on `day` (today): every
    period of theirs, oldest first. Nobody behind the credential, or not enrolled that day:
    none (a search that matches nothing). A credential that may not be used is refused with
    its reason (CredentialRefused), as at 1101."""
    with platform.uow() as uow:
        acting_institution(uow, actor)
        try:
            insured = service.identify(uow=uow, cert_type=credential.cert_type,
                                       cert_no=credential.cert_no,
                                       day=day or service.today(uow))
        except (InsuredNotFound, NotEnrolled):
            return []
        return [fhir.coverage(coverage_facts(view))
                for view in service.enrolments(uow=uow, person_id=insured.person_id)]


def check_eligibility(*, platform: Platform, actor: Actor, body: bytes):
    """The benefit check (2001) of a CoverageEligibilityRequest: the person behind the
    credential enrolled on the day asked (today without one). A refused credential (a card
    under loss...), an unknown person or no enrolment that day is the response's error, with
    the reason; the request itself is refused only when malformed or not the caller's."""
    ask = fhir.eligibility_ask(body)
    with platform.uow() as uow:
        _check_provider(acting_institution(uow, actor), ask.fixmedins_code)
        day = ask.day or service.today(uow)
        try:
            insured = service.identify(uow=uow, cert_type=ask.credential.cert_type,
                                       cert_no=ask.credential.cert_no, day=day)
        except ELIGIBILITY_REFUSALS as refused:
            refusal = fhir.Refusal(refused.code, refused.message_zh, refused.message_en,
                                   reason=refused.details.get("reason"))
            return fhir.eligibility_response(fhir.EligibilityFacts(ask, uow.now(), day,
                                                                   refusal=refusal))
        return fhir.eligibility_response(fhir.EligibilityFacts(
            ask, uow.now(), day, coverage=coverage_facts(insured.enrolment)))
