"""Guardians: linked at a social security card outlet on the documents shown, a guardian acts
for a child under 16 through the same holder-scope checks as for themself (people.guardians),
until the 16th birthday (the clock's Beijing date) or an unlink at an outlet."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from tests.cards.conftest import CITIZEN_OUTLET, act, card_in_use, holder
from tests.people.helpers import register
from yikatong.audit.models import AuditRecord
from yikatong.cards import service as cards
from yikatong.cards.errors import CardNotFound
from yikatong.core.actor import Actor, Channel, Role
from yikatong.people import errors, guardians
from yikatong.people.samples import make_citizen_ssn
from yikatong.transit import wallets

pytestmark = pytest.mark.db

OUTLET = Actor(user_id="ss-op", role=Role.SS_OUTLET, channel=Channel.OUTLET, branch_code="SS-TN-01")
CHILD_BORN = date(2010, 3, 5)   # 16 on 5 March 2026; the test clock starts on 2 March 2026
PARENT_BORN = date(1984, 6, 1)


def person(platform, born: date, seq: int, gender: str = "F", name: str = "周小雨") -> int:
    outcome = register(platform, name=name, birth_date=born, gender=gender,
                       document_number=make_citizen_ssn("320402", born, gender, seq=seq))
    return outcome.person_id


@pytest.fixture
def family(platform):
    """(guardian person id, child person id, the child's card in use)."""
    parent = person(platform, PARENT_BORN, 11, gender="M", name="周建国")
    child = person(platform, CHILD_BORN, 12)
    return parent, child, card_in_use(platform, person_id=child)


def link(platform, parent: int, child: int, actor: Actor = OUTLET, relation: str = "parent",
         documents=("household_register",)):
    return act(platform, guardians.link_guardian, actor=actor, guardian_person_id=parent,
               child_person_id=child, relation=relation, documents=documents)


def audit_of(platform, entity_type: str, entity_id) -> list[AuditRecord]:
    with platform.uow() as uow:
        return list(uow.session.execute(
            select(AuditRecord).where(AuditRecord.entity_type == entity_type,
                                      AuditRecord.entity_id == str(entity_id))
            .order_by(AuditRecord.seq)).scalars())


def test_a_linked_guardian_reports_the_childs_card_lost_audited_as_the_guardian(platform, family):
    parent, child, card_no = family
    made = link(platform, parent, child)
    assert made.state == "in_force" and made.documents == ("household_register",)
    [linked] = audit_of(platform, "guardian_link", made.id)
    assert linked.action == "guardian.link" and linked.actor_id == OUTLET.user_id
    assert linked.after["child_person_id"] == child and linked.after["outlet_code"] == "SS-TN-01"

    guardian = holder(parent)
    act(platform, cards.report_loss, actor=guardian, card_no=card_no, kind="temporary")
    with platform.uow() as uow:
        assert cards.get_card(uow=uow, card_no=card_no).hr_status == "temporary_loss"
    record = audit_of(platform, "card", card_no)[-1]
    assert record.action == "card.temporary_loss_reported"
    assert record.actor_id == guardian.user_id and record.role == "holder"
    assert record.after["acting_for_person_id"] == child  # the child is the subject
    act(platform, cards.unblock, actor=guardian, card_no=card_no)
    with platform.uow() as uow:
        assert cards.get_card(uow=uow, card_no=card_no).hr_status == "normal"
        assert [w.card_no for w in wallets.holder_wallets(uow=uow, actor=guardian,
                                                          person_id=child)] == [card_no]
        assert [c.person_id for c in guardians.children_of(uow=uow, actor=guardian)] == [child]


def test_the_link_ends_on_the_16th_birthday_by_the_clock(platform, clock, family):
    parent, child, card_no = family
    link(platform, parent, child)
    guardian = holder(parent)
    clock.set(datetime(2026, 3, 4, 15, 59, tzinfo=UTC))  # 23:59 on 4 March in Beijing
    with platform.uow() as uow:
        assert guardians.may_act_for(uow, guardian, child)
        assert cards.get_card(uow=uow, card_no=card_no, actor=guardian).card_no == card_no
    clock.set(datetime(2026, 3, 4, 16, 0, tzinfo=UTC))  # midnight: the 16th birthday
    with platform.uow() as uow:
        assert not guardians.may_act_for(uow, guardian, child)
        assert guardians.children_of(uow=uow, actor=guardian) == []
        assert guardians.links_of(uow=uow, person_id=child)[0].state == "aged_out"
        assert wallets.holder_wallets(uow=uow, actor=guardian, person_id=child) == []
    with pytest.raises(CardNotFound):
        act(platform, cards.report_loss, actor=guardian, card_no=card_no, kind="temporary")
    with platform.uow() as uow:  # the child acts for themself from now on
        assert guardians.may_act_for(uow, holder(child), child)


def test_a_child_of_16_cannot_be_linked(platform, clock):
    parent = person(platform, PARENT_BORN, 21, gender="M")
    child = person(platform, CHILD_BORN, 22)
    clock.set(datetime(2026, 3, 5, 2, 0, tzinfo=UTC))
    with pytest.raises(errors.ChildNotUnder16) as refused:
        link(platform, parent, child)
    assert refused.value.details["age"] == 16


def test_unlinked_at_an_outlet_the_guardian_no_longer_acts(platform, family):
    parent, child, card_no = family
    made = link(platform, parent, child)
    ended = act(platform, guardians.unlink_guardian, actor=OUTLET, link_id=made.id,
                reason="监护人变更 / guardianship changed")
    assert ended.state == "ended" and ended.ended_by == OUTLET.user_id
    assert [r.action for r in audit_of(platform, "guardian_link", made.id)] == [
        "guardian.link", "guardian.unlink"]
    with pytest.raises(CardNotFound):
        act(platform, cards.report_loss, actor=holder(parent), card_no=card_no, kind="temporary")
    with pytest.raises(errors.GuardianLinkEnded):
        act(platform, guardians.unlink_guardian, actor=OUTLET, link_id=made.id, reason="again")
    relinked = link(platform, parent, child)  # a new link may be made again on documents
    assert relinked.id != made.id and relinked.state == "in_force"


def test_a_non_guardian_is_refused(platform, family):
    parent, child, card_no = family
    link(platform, parent, child)
    stranger = person(platform, date(1980, 1, 1), 31, gender="M", name="李四")
    with pytest.raises(CardNotFound):
        act(platform, cards.report_loss, actor=holder(stranger), card_no=card_no, kind="temporary")
    with platform.uow() as uow:
        assert not guardians.may_act_for(uow, holder(stranger), child)
        assert wallets.holder_wallets(uow=uow, actor=holder(stranger), person_id=child) == []
        # the link runs one way: the child does not act for the parent
        assert not guardians.may_act_for(uow, holder(child), parent)


def test_only_a_social_security_outlet_links(platform, family):
    parent, child, _ = family
    for actor in (CITIZEN_OUTLET, holder(parent),
                  Actor(user_id="ss-no-branch", role=Role.SS_OUTLET, channel=Channel.OUTLET)):
        with pytest.raises(errors.GuardianOutletOnly):
            link(platform, parent, child, actor=actor)
    with platform.uow() as uow:
        assert guardians.links_of(uow=uow, person_id=child) == []


def test_the_documents_must_prove_the_relation_and_one_open_link_per_pair(platform, family):
    parent, child, _ = family
    with pytest.raises(errors.GuardianDocumentsMissing):
        link(platform, parent, child, documents=())
    with pytest.raises(errors.GuardianDocumentsMissing):  # a parent's proof, not a guardian's
        link(platform, parent, child, relation="legal_guardian", documents=("birth_certificate",))
    sibling = person(platform, date(2018, 7, 1), 13, gender="M", name="周小山")
    with pytest.raises(errors.GuardianNotAdult):  # a 15-year-old is nobody's guardian
        link(platform, child, sibling)
    link(platform, parent, child, relation="legal_guardian", documents=("guardianship_document",))
    with pytest.raises(errors.GuardianAlreadyLinked):
        link(platform, parent, child)


@pytest.mark.no_db
def test_the_sixteenth_birthday_of_someone_born_on_29_february():
    assert guardians.under_16(date(2012, 2, 29), date(2028, 2, 28))
    assert not guardians.under_16(date(2012, 2, 29), date(2028, 2, 29))
    # 2100 is a common year: born on 29 February 2084, 16 on 1 March 2100
    assert guardians.sixteenth_birthday(date(2084, 2, 29)) == date(2100, 3, 1)
    assert guardians.under_16(date(2084, 2, 29), date(2100, 2, 28))
    assert not guardians.under_16(date(2084, 2, 29), date(2100, 3, 1))
