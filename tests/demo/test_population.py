"""The synthetic population reaches every state the code defines: for each state enum (or
state tuple) of the domains, the values found in the database after `build_population` are
exactly its members. A state added to the code and not reached by the population fails here,
so the population (and the contract test that runs on it) keeps up with the code."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from yikatong.applications.models import Application
from yikatong.applications.rules import STATUSES as APPLICATION_STATUSES
from yikatong.auth.models import AccessToken, User
from yikatong.banking.models import BankAccount, BankClosureTask
from yikatong.banking.rules import AccountStatus
from yikatong.banking.runtime import ReferenceBank
from yikatong.cards import service as cards
from yikatong.cards.models import BankAccountClosureTask, Card, CardBlock
from yikatong.cards.protocols import FinancialStatus
from yikatong.cards.rules import BlockKind, CardState, EndReason, Function, HrStatus
from yikatong.core.actor import Role
from yikatong.demo.population import build_population
from yikatong.ecard import service as ecards
from yikatong.ecard.models import Ecard
from yikatong.ecard.rules import EcardState, ListedState
from yikatong.employers.models import EmployeeLink
from yikatong.people.models import IdentityReview, PersonCorrection
from yikatong.people.service import CORRECTION_STATUSES, REVIEW_STATUSES
from yikatong.transit.models import GrantState, RiderGrant, TopUpOrder, TransitWallet, WalletRefund
from yikatong.transit.rules import GRANT_STATES, OrderState

pytestmark = pytest.mark.db

# States kept as plain strings, named in their model's column comment (no enum to import).
WALLET_STATES = ("open", "closed")                        # transit.models.TransitWallet
WALLET_REFUND_STATES = ("closing", "waiting", "refunded")  # transit.models.WalletRefund
CLOSURE_STATES = ("requested", "completed")               # cards.models.BankAccountClosureTask
BANK_CLOSURE_STATES = ("open", "completed")               # banking.models.BankClosureTask


@pytest.fixture
def population(platform, tmp_path, monkeypatch):
    monkeypatch.setenv("YKT_CHIP_DIR", str(tmp_path / "chips"))
    return build_population(platform)


def values(platform, column, *, uow_of=None) -> set[str]:
    with (uow_of or platform).uow() as uow:
        return {value for value in uow.session.execute(select(column).distinct()).scalars()
                if value is not None}


def test_every_state_of_the_code_is_in_the_population(platform, population):
    bank = platform.get(ReferenceBank)
    with platform.uow() as uow:
        card_views = [cards.get_card(uow=uow, card_no=no)
                      for no in uow.session.execute(select(Card.card_no)).scalars()]
        person_ids = set(uow.session.execute(select(Ecard.person_id)).scalars())
        ecard_views = [ecards.get_ecard(uow=uow, person_id=p) for p in person_ids]
    found = {
        "card state": ({v.state for v in card_views}, CardState),
        "HR status": ({v.hr_status for v in card_views}, HrStatus),
        "end reason": (values(platform, Card.end_reason), EndReason),
        "financial status": (values(platform, Card.financial_status), FinancialStatus),
        "block kind": (values(platform, CardBlock.kind), BlockKind),
        "blocked function": (values(platform, CardBlock.function), Function),
        "card account closure": (values(platform, BankAccountClosureTask.status), CLOSURE_STATES),
        "application status": (values(platform, Application.status), APPLICATION_STATUSES),
        "bank account status": (values(platform, BankAccount.status, uow_of=bank), AccountStatus),
        "bank closure task": (values(platform, BankClosureTask.status, uow_of=bank),
                              BANK_CLOSURE_STATES),
        "e-card state": ({v.state for v in ecard_views}, EcardState),
        "e-card listed state": (values(platform, Ecard.listed_state), ListedState),
        "top-up order state": (values(platform, TopUpOrder.state), OrderState),
        "rider grant state": (values(platform, RiderGrant.state), GRANT_STATES.codes()),
        "transit wallet state": (values(platform, TransitWallet.state), WALLET_STATES),
        "wallet refund state": (values(platform, WalletRefund.state), WALLET_REFUND_STATES),
        "identity review status": (values(platform, IdentityReview.status), REVIEW_STATUSES),
        "correction status": (values(platform, PersonCorrection.status), CORRECTION_STATUSES),
        # Background jobs act as SYSTEM; no login is ever made for it.
        "login role": (values(platform, User.role), [r for r in Role if r is not Role.SYSTEM]),
    }
    missing = {name: sorted({str(m) for m in members} - present)
               for name, (present, members) in found.items() if {str(m) for m in members} - present}
    unknown = {name: sorted(present - {str(m) for m in members})
               for name, (present, members) in found.items() if present - {str(m) for m in members}}
    assert not missing, f"states the population does not reach: {missing}"
    assert not unknown, f"states in the database the code does not name: {unknown}"


@pytest.mark.no_db
def test_the_grant_states_agree_with_the_model():
    assert set(GRANT_STATES.codes()) == {GrantState.ACTIVE, GrantState.REVOKED, GrantState.EXPIRED}


def test_links_logins_and_api_keys_are_there_live_and_ended(platform, population):
    with platform.uow() as uow:
        ended = {link.ended_at is not None for link in uow.session.execute(select(EmployeeLink)).scalars()}
        active = set(uow.session.execute(select(User.active)).scalars())
        revoked = {key.revoked_at is not None for key in uow.session.execute(
            select(AccessToken).where(AccessToken.kind == "api_key")).scalars()}
    assert ended == active == revoked == {False, True}


def test_the_index_names_records_that_exist(platform, population):
    """What the index hands to the contract test (ids, card numbers) are real records."""
    from yikatong.applications import service as applications
    from yikatong.demo.population import ADMIN

    with platform.uow() as uow:
        for card_no in population.card_nos.values():
            assert cards.get_card(uow=uow, card_no=card_no).card_no == card_no
        for application_id in population.application_ids.values():
            assert applications.get_application(uow=uow, actor=ADMIN,
                                                application_id=application_id).id == application_id
    assert len(population.ecard_nos) >= len(EcardState)
    assert population.top_up_order_nos.keys() == {str(s) for s in OrderState}


def test_medical_visits_and_settlements_are_there_in_every_state(platform, population):
    """Medical insurance (medical.visits): visits open, discharged, settled and cancelled;
    settlements settled and cancelled; the holder's own list has their settlements."""
    from yikatong.core.actor import Actor, Channel
    from yikatong.medical import visits
    from yikatong.medical.models import Settlement, Visit

    assert values(platform, Visit.state) == {"open", "discharged", "settled", "cancelled"}
    assert values(platform, Settlement.state) == {"settled", "cancelled"}
    holder = Actor(user_id="h", role=Role.HOLDER, channel=Channel.ONLINE_APP,
                   person_id=population.person_ids["holder"])
    with platform.uow() as uow:
        mine = {s.setl_id for s in visits.settlements(uow=uow, actor=holder)}
    assert {population.setl_ids[k] for k in ("hospital", "community", "pharmacy")} <= mine
    assert population.setl_ids["resident"] not in mine
