"""The e-card as the holder's credential: a genuine code of the holder's own e-card opens a case
(recorded as the e-card), another person's code is refused, and a formally lost card stops the
e-card too (the card behind it is checked at every step)."""

from __future__ import annotations

import pytest

from tests.ecard.conftest import applied, chip_directory, holder, quick_argon2  # noqa: F401 - fixtures
from yikatong.cards import service as cards
from yikatong.core.errors import DomainError
from yikatong.hrservices import service

pytestmark = pytest.mark.db


def test_the_holder_opens_a_case_with_their_e_card(platform, holder):  # noqa: F811
    me, other = holder(), holder()
    with platform.uow() as uow:
        case = service.open_case(uow=uow, actor=me.actor, service_code="employment_registration",
                                 ecard_token=me.qr())
    assert (case.credential, case.person_id, case.card_no) == ("ecard", me.person_id, me.card_no)
    with platform.uow() as uow, pytest.raises(DomainError) as refused:
        service.open_case(uow=uow, actor=me.actor, service_code="employment_registration", ecard_token=other.qr())
    assert refused.value.code == "hr_credential_person_mismatch"
    with platform.uow() as uow, pytest.raises(DomainError) as refused:
        service.open_case(uow=uow, actor=me.actor, service_code="employment_registration", ecard_token="x" * 40)
    assert refused.value.code == "hr_ecard_refused"


def test_a_formally_lost_card_stops_its_e_card_from_opening_a_case(platform, holder):  # noqa: F811
    me = holder()
    token = me.qr()
    me.card_op(cards.report_loss, kind="formal")
    with platform.uow() as uow, pytest.raises(DomainError) as refused:
        service.open_case(uow=uow, actor=me.actor, service_code="employment_registration", ecard_token=token)
    assert refused.value.code in ("hr_card_refused", "hr_ecard_refused")
