"""Enrolment, the personal account, institutions, the catalogue and finding the insured person
by each credential (service level, on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from tests.cards.conftest import ADMIN, PHONE, act, card_in_use, holder
from tests.medical.conftest import (
    EMPLOYER,
    HOSPITAL,
    OFFICE,
    PHARMACY,
    TODAY,
    enrol,
    institution,
    insured,
    registered,
)
from yikatong.cards import service as cards
from yikatong.core.actor import Actor, Channel
from yikatong.core.errors import IdempotencyKeyReused
from yikatong.crypto.protocols import KeyStore
from yikatong.ecard import service as ecard
from yikatong.ledger import service as ledger
from yikatong.medical import errors, service
from yikatong.medical.models import Institution

pytestmark = pytest.mark.db


def identify(platform, cert_type: str, cert_no: str, day: date = TODAY):
    with platform.uow() as uow:
        return service.identify(uow=uow, cert_type=cert_type, cert_no=cert_no, day=day)


# --- enrolment -------------------------------------------------------------------------------


def test_an_enrolment_gives_a_psn_no_and_a_personal_account(platform):
    ssn, person_id, _ = insured(platform, credit=0)
    with platform.uow() as uow:
        period = service.enrolment_on(uow=uow, person_id=person_id, day=TODAY)
        assert period.scheme == "310" and period.employer_uscc == EMPLOYER and not period.retired
        assert period.psn_no.startswith("320400") and ssn not in period.psn_no
        assert service.enrolment_on(uow=uow, person_id=person_id, day=date(2025, 12, 31)) is None
        assert service.account_balance(uow=uow, person_id=person_id) == 0
        assert ledger.balance(uow=uow, code=service.account_code(person_id)) == 0


def test_retirement_closes_the_period_the_day_before(platform):
    _, person_id, _ = insured(platform, credit=0)
    act(platform, service.enrol, actor=OFFICE, person_id=person_id, scheme="310",
        insured_admdvs="320402", start_date=date(2026, 6, 1), retired=True)
    with platform.uow() as uow:
        periods = service.enrolments(uow=uow, person_id=person_id)
        assert [(p.start_date, p.end_date, p.retired) for p in periods] == [
            (date(2026, 1, 1), date(2026, 5, 31), False), (date(2026, 6, 1), None, True)]
        assert not service.enrolment_on(uow=uow, person_id=person_id, day=date(2026, 5, 31)).retired
        assert service.enrolment_on(uow=uow, person_id=person_id, day=date(2026, 6, 1)).retired
        assert len({p.psn_no for p in periods}) == 1


REFUSED_ENROLMENTS = [
    (dict(scheme="320"), errors.InvalidEnrolment),
    (dict(insured_admdvs="3204"), errors.InvalidEnrolment),
    (dict(employer_uscc=None), errors.InvalidEnrolment),        # in service without employer
    (dict(scheme="390"), errors.InvalidEnrolment),              # a resident with an employer
    (dict(employer_uscc="not-a-uscc"), errors.InvalidEnrolment),
    (dict(start_date=date(2026, 1, 1)), errors.EnrolmentOverlap),  # a period already starts then
]


def test_enrolment_refusals_change_nothing(platform):
    _, person_id, _ = insured(platform, credit=0)
    for fields, error in REFUSED_ENROLMENTS:
        request = dict(person_id=person_id, scheme="310", insured_admdvs="320402",
                       start_date=date(2026, 4, 1), employer_uscc=EMPLOYER) | fields
        with pytest.raises(error):
            act(platform, service.enrol, actor=OFFICE, **request)
        with platform.uow() as uow:
            assert len(service.enrolments(uow=uow, person_id=person_id)) == 1


def test_only_the_office_enrols(platform):
    _, person_id = registered(platform)
    with pytest.raises(errors.NotMedicalOffice):
        act(platform, service.enrol, actor=institution(), person_id=person_id, scheme="390",
            insured_admdvs="320402", start_date=TODAY)


def test_an_ended_enrolment_stops_cover_the_next_day(platform):
    ssn, person_id, _ = insured(platform, credit=0)
    act(platform, service.end_enrolment, actor=OFFICE, person_id=person_id, end_date=TODAY)
    assert identify(platform, "02", ssn).person_id == person_id
    with pytest.raises(errors.NotEnrolled):
        identify(platform, "02", ssn, day=date(2026, 3, 3))


# --- the personal account --------------------------------------------------------------------


def test_a_credit_is_posted_once_per_request_id(platform):
    _, person_id, _ = insured(platform, credit=0)
    first = act(platform, service.credit_account, actor=OFFICE, person_id=person_id,
                amount=12_345, request_id="2026-03-credit")
    again = act(platform, service.credit_account, actor=OFFICE, person_id=person_id,
                amount=12_345, request_id="2026-03-credit")
    assert (first.balance, first.replayed) == (12_345, False)
    assert (again.balance, again.replayed) == (12_345, True)
    with pytest.raises(IdempotencyKeyReused):
        act(platform, service.credit_account, actor=OFFICE, person_id=person_id, amount=1,
            request_id="2026-03-credit")
    with platform.uow() as uow:
        assert ledger.balance(uow=uow, code=service.FUND_BANK) == 12_345
        assert ledger.trial_balance(uow=uow).balanced


def test_a_credit_is_a_positive_integer(platform):
    _, person_id, _ = insured(platform, credit=0)
    for amount in (0, -5, 1.5, True, "100"):
        with pytest.raises(errors.InvalidCredit):
            act(platform, service.credit_account, actor=OFFICE, person_id=person_id,
                amount=amount, request_id="x")


def test_a_person_never_enrolled_has_no_account_to_credit(platform):
    _, person_id = registered(platform)
    with pytest.raises(errors.NotEnrolled):
        act(platform, service.credit_account, actor=OFFICE, person_id=person_id, amount=100,
            request_id="y")


# --- institutions ------------------------------------------------------------------------------


def test_reference_institutions_load_once(platform, reference):
    with platform.uow() as uow:
        again = service.load_reference_data(uow=uow, actor=Actor.system("setup"))
        listed = service.list_institutions(uow=uow)
    assert not again.changed
    levels = {i.level for i in listed}
    assert levels == {"community", "1", "2", "3", "pharmacy"}
    assert {i.code for i in listed} >= {HOSPITAL, PHARMACY}
    assert not any(i.has_secret for i in listed)


def test_an_institution_secret_is_shown_once_and_stored_sealed(platform):
    issued = act(platform, service.register_institution, actor=OFFICE, code="H32041200099",
                 name="武进示例医院", name_en="Wujin example hospital", level="2", admdvs="320412")
    assert len(issued.secret) == 64 and issued.secret not in repr(issued)
    assert issued.institution.has_secret and issued.institution.kind == "hospital"
    with platform.uow() as uow:
        row = uow.session.get(Institution, "H32041200099")
        assert issued.secret not in row.secret_sealed
        assert service.institution_secret(uow=uow, code="H32041200099") == issued.secret
    rotated = act(platform, service.issue_institution_secret, actor=OFFICE, code="H32041200099")
    with platform.uow() as uow:
        assert service.institution_secret(uow=uow, code="H32041200099") == rotated.secret
    assert rotated.secret != issued.secret
    with pytest.raises(errors.InstitutionExists):
        act(platform, service.register_institution, actor=OFFICE, code="H32041200099",
            name="x", name_en="x", level="2", admdvs="320412")


def test_institution_refusals(platform):
    for code, level, admdvs in [
        ("X32041200099", "2", "320412"),   # neither H nor P
        ("P32041200099", "2", "320412"),   # a pharmacy code with a hospital level
        ("H32041200099", "pharmacy", "320412"),
        ("H32041200099", "4", "320412"),
        ("H32041200099", "2", "320402"),   # region not the code's
    ]:
        with pytest.raises(errors.InvalidInstitution):
            act(platform, service.register_institution, actor=OFFICE, code=code, name="x",
                name_en="x", level=level, admdvs=admdvs)
    with pytest.raises(errors.NotMedicalOffice):
        act(platform, service.register_institution, actor=institution(), code="H32041200099",
            name="x", name_en="x", level="2", admdvs="320412")
    with platform.uow() as uow:
        assert service.list_institutions(uow=uow) == []


def test_a_reference_institution_has_no_secret_until_issued(platform, reference):
    with platform.uow() as uow, pytest.raises(errors.NoInstitutionSecret):
        service.institution_secret(uow=uow, code=PHARMACY)


# --- the catalogue -----------------------------------------------------------------------------


@pytest.mark.no_db
def test_the_catalogue_in_force_follows_the_day():
    spring, items = service.download_catalogue(day=TODAY)
    assert spring == "CZ-2026.1" and len(items) >= 40
    assert {i.item_class for i in items} == {"A", "B", "C"}
    _, ct = service.catalogue_item(code="002304000010000", day=TODAY)
    assert (ct.item_class, ct.price_limit, ct.pre_self_pay_bp) == ("B", 22000, 1000)
    assert ct.limit_for(2) == 44000
    autumn, ct_later = service.catalogue_item(code="002304000010000", day=date(2026, 8, 1))
    assert autumn.version == "CZ-2026.2" and (ct_later.price_limit, ct_later.pre_self_pay_bp) == (18000, 500)
    with pytest.raises(errors.UnknownCatalogueCode):
        service.catalogue_item(code="XN05CFZ010A001010101567", day=date(2026, 8, 1))  # dropped
    with pytest.raises(errors.UnknownCatalogueCode):
        service.catalogue_item(code="NOT-A-CODE", day=TODAY)
    with pytest.raises(errors.NoCatalogueInForce):
        service.catalogue_in_force(day=date(2025, 12, 31))


# --- identify: 01, 02, 03 ------------------------------------------------------------------------


def test_identify_by_id_number_and_by_card(platform):
    ssn, person_id, card_no = insured(platform, credit=8_000)
    by_id = identify(platform, "02", ssn)
    by_card = identify(platform, "03", card_no)
    assert by_id.person_id == by_card.person_id == person_id
    assert by_card.card_no == card_no and by_id.card_no is None
    assert by_id.account_balance == 8_000 and by_id.enrolment.scheme == "310"
    assert by_id.certno == ssn and ssn not in by_id.certno_masked


def identify_card(platform, person_id: int) -> str:
    with platform.uow() as uow:
        return cards.current_card_for(uow=uow, person_id=person_id).card_no


def test_identify_by_e_voucher_qr(platform):
    ssn, person_id, _ = insured(platform)
    keys = platform.get(KeyStore)
    with platform.uow() as uow:
        ecard.grant_consent(uow=uow, actor=holder(person_id, Channel.ONLINE_APP),
                            channel="official_app", keys=keys)
    with platform.uow() as uow:
        token = ecard.issue_qr(uow=uow, actor=ADMIN, channel="official_app", keys=keys,
                               person_id=person_id).token
    assert identify(platform, "01", token).person_id == person_id
    with platform.uow() as uow:
        fresh = ecard.issue_qr(uow=uow, actor=ADMIN, channel="official_app", keys=keys,
                               person_id=person_id).token
    act(platform, cards.report_loss, actor=PHONE, card_no=identify_card(platform, person_id),
        kind="temporary")
    with pytest.raises(errors.CredentialRefused) as awaiting:  # the e-card needs re-authorising
        identify(platform, "01", fresh)
    assert awaiting.value.details["reason"].startswith("ecard_")
    assert identify(platform, "02", ssn).person_id == person_id
    platform.clock.advance(seconds=61)  # the code lives 60 s
    with pytest.raises(errors.CredentialRefused) as refused:
        identify(platform, "01", token)
    assert refused.value.details["reason"] == "ecard_expired"
    with pytest.raises(errors.CredentialRefused):
        identify(platform, "01", token[:-4] + "AAAA")


BLOCKS = [
    (dict(operation=cards.report_loss, actor=PHONE, kind="temporary"), "card_lost"),
    (dict(operation=cards.report_loss, actor="holder", kind="formal"), "card_lost"),
    (dict(operation=cards.freeze, actor=ADMIN, reason_code="fraud_suspected"), "card_frozen"),
]


def test_a_blocked_card_refuses_the_credential_not_the_person(platform):
    for loss, reason in BLOCKS:
        ssn, person_id, card_no = insured(platform, credit=0)
        loss = dict(loss)
        operation = loss.pop("operation")
        if loss["actor"] == "holder":
            loss["actor"] = holder(person_id)
        act(platform, operation, card_no=card_no, **loss)
        with pytest.raises(errors.CredentialRefused) as refused:
            identify(platform, "03", card_no)
        assert refused.value.details["reason"] == reason
        assert identify(platform, "02", ssn).person_id == person_id


def test_a_retired_card_is_refused(platform):
    ssn, person_id, card_no = insured(platform)
    act(platform, cards.retire_deceased, actor=ADMIN, card_no=card_no, note="test")
    with pytest.raises(errors.CredentialRefused) as refused:
        identify(platform, "03", card_no)
    assert refused.value.details["reason"] == "card_retired"


def test_the_ten_year_financial_limit_never_stops_medical_use(platform):
    _, person_id = registered(platform)
    enrol(platform, person_id, scheme="390")
    card_no = card_in_use(platform, person_id=person_id, activate=False, issue_date=date(2015, 6, 1))
    with platform.uow() as uow:
        assert cards.get_card(uow=uow, card_no=card_no).financial_valid_until < TODAY
    assert identify(platform, "03", card_no).person_id == person_id


def test_not_enrolled_and_unknown_credentials_are_refused(platform):
    ssn, _ = registered(platform)
    with pytest.raises(errors.NotEnrolled):
        identify(platform, "02", ssn)
    with pytest.raises(errors.InsuredNotFound):
        identify(platform, "02", "320402199001011234")
    with pytest.raises(errors.InsuredNotFound):
        identify(platform, "03", "Z99999999")
    with pytest.raises(errors.UnknownCertType):
        identify(platform, "04", ssn)


# --- disease filings -----------------------------------------------------------------------------


def test_a_disease_filing_and_its_revocation(platform, reference):
    _, person_id, _ = insured(platform)
    filed = act(platform, service.file_disease, actor=institution(HOSPITAL), person_id=person_id,
                kind="chronic", disease_code="I10.X00", disease_name="高血压",
                begin_date=TODAY)
    with platform.uow() as uow:
        assert [f.filing_no for f in service.filings(uow=uow, person_id=person_id, day=TODAY)] \
            == [filed.filing_no]
    with pytest.raises(errors.FilingNotFound):  # another institution cannot revoke it
        act(platform, service.revoke_filing, actor=institution(PHARMACY), filing_no=filed.filing_no)
    act(platform, service.revoke_filing, actor=institution(HOSPITAL), filing_no=filed.filing_no)
    with platform.uow() as uow:
        assert service.filings(uow=uow, person_id=person_id, day=TODAY) == []
        assert len(service.filings(uow=uow, person_id=person_id)) == 1
    with pytest.raises(errors.FilingAlreadyRevoked):
        act(platform, service.revoke_filing, actor=OFFICE, filing_no=filed.filing_no)


def test_a_filing_needs_an_enrolled_person(platform):
    _, person_id = registered(platform)
    with pytest.raises(errors.NotEnrolled):
        act(platform, service.file_disease, actor=OFFICE, person_id=person_id, kind="special",
            disease_code="N18.500", disease_name="慢性肾脏病5期", begin_date=TODAY)


def test_the_audit_trail_masks_the_id_number(platform):
    from yikatong.audit.models import AuditRecord

    ssn, person_id, _ = insured(platform)
    with platform.uow() as uow:
        records = uow.session.execute(select(AuditRecord).where(
            AuditRecord.entity_type.like("medical%"))).scalars().all()
    assert {r.action for r in records} >= {"medical.enrolled", "medical.account_credited"}
    assert not any(ssn in str(r.after) for r in records)
