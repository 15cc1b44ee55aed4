"""Random sequences of lifecycle operations checked against a small reference model of the
rules (四.6–8): which operations succeed, which error each refusal raises, and the HR and
financial status after every step."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.cards.conftest import (
    ADMIN,
    OUTLET,
    PHONE,
    SYSTEM,
    bank_branch,
    card_in_use,
    holder,
    new_card_numbers,
)
from yikatong.cards import errors, jobs, service
from yikatong.core.actor import Channel
from yikatong.core.clock import local_date

pytestmark = pytest.mark.db

_people = itertools.count(50_000)

# name → (actor factory(person_id), channel family or None when it is no loss channel)
ACTORS = {
    "phone": (lambda p: PHONE, "phone_12333"),
    "portal": (lambda p: holder(p, Channel.ONLINE_PORTAL), "online"),
    "app": (lambda p: holder(p, Channel.ONLINE_APP), "online"),
    "branch": (lambda p: bank_branch("ICBC", "ICBC-CZ-002"), "bank_branch"),
    "other_bank": (lambda p: bank_branch("ABC", "ABC-CZ-001"), "bank_branch"),
    "outlet": (lambda p: OUTLET, "outlet"),
}


@dataclass
class Model:
    """What the seed says the card should look like."""

    now: datetime
    # HR temporary losses not yet lifted: (end, channel family they were reported through)
    temporaries: list[tuple[datetime, str]] = field(default_factory=list)
    formal: str | None = None  # channel family of the HR formal loss in force
    frozen: bool = False
    replacement: str | None = None  # produced | cancelled | handed_over
    retired: bool = False

    def temporary_in_force(self) -> str | None:
        """The channel family of the temporary loss in force, if one is."""
        return next((family for ends, family in self.temporaries if self.now < ends), None)

    def drop_temporaries(self, *, ended: bool) -> int:
        """Forget the temporary losses that have ended (or those still in force)."""
        kept = [(e, f) for e, f in self.temporaries if (self.now < e) == ended]
        dropped = len(self.temporaries) - len(kept)
        self.temporaries = kept
        return dropped

    def hr_status(self) -> str:
        if self.retired:
            return "retired"
        if self.formal:
            return "formal_loss"
        if self.frozen:
            return "frozen"
        return "temporary_loss" if self.temporary_in_force() else "normal"

    def financial_status(self) -> str:
        # a retired card shows "retired" whatever the bank last said (issue 10)
        return "retired" if self.retired else self.bank_financial_status()

    def bank_financial_status(self) -> str:
        # only a formal loss at a branch of the card's bank reaches the financial function
        return "formal_loss" if self.formal == "bank_branch" else "active"


class Lifecycle(RuleBasedStateMachine):
    platform = None  # set by the test

    @initialize()
    def new_card(self):
        self.person_id = next(_people)
        self.card_no = card_in_use(self.platform, person_id=self.person_id,
                                   issue_date=local_date(self.platform.clock.now()))
        self.model = Model(now=self.platform.clock.now())
        self.replacement_no = None

    def attempt(self, expected_error, operation, **kwargs):
        """Run one operation; it must fail with exactly `expected_error` or succeed."""
        with self.platform.uow() as uow:
            try:
                result = operation(uow=uow, **kwargs)
                uow.commit()
            except errors.DomainError as error:
                assert expected_error is not None, f"unexpected refusal {error.code}"
                assert type(error) is expected_error, (error.code, expected_error)
                return None
        assert expected_error is None, f"{expected_error.__name__} expected, it succeeded"
        return result

    def actor(self, name):
        make, family = ACTORS[name]
        return make(self.person_id), family

    @rule(who=st.sampled_from(sorted(ACTORS)))
    def report_temporary_loss(self, who):
        actor, family = self.actor(who)
        m = self.model
        expected = (errors.CardNotFound if who == "other_bank"
                    else errors.CardNotInUse if m.retired
                    else errors.LossChannelNotAllowed if family not in ("phone_12333", "online")
                    else errors.CardAlreadyLost if m.formal or m.temporary_in_force()
                    else None)
        self.attempt(expected, service.report_loss, actor=actor, card_no=self.card_no,
                     kind="temporary")
        if expected is None:
            m.temporaries.append((m.now + timedelta(hours=168), family))

    @rule(who=st.sampled_from(sorted(ACTORS)))
    def report_formal_loss(self, who):
        actor, family = self.actor(who)
        m = self.model
        expected = (errors.CardNotFound if who == "other_bank"
                    else errors.CardNotInUse if m.retired
                    else errors.LossChannelNotAllowed if family not in ("online", "bank_branch")
                    else errors.CardAlreadyLost if m.formal
                    else None)
        self.attempt(expected, service.report_loss, actor=actor, card_no=self.card_no,
                     kind="formal")
        if expected is None:  # it supersedes a temporary loss in force
            m.drop_temporaries(ended=False)
            m.formal = family

    @rule(who=st.sampled_from(sorted(ACTORS)))
    def unblock(self, who):
        actor, family = self.actor(who)
        m = self.model
        temporary = m.temporary_in_force()
        in_force = [f for f in (temporary, m.formal) if f]
        expected = (errors.CardNotFound if who == "other_bank"
                    else errors.ReplacementInUse if m.retired
                    else errors.NotLost if not in_force
                    else errors.UnblockChannelMismatch if family not in in_force
                    else None)
        self.attempt(expected, service.unblock, actor=actor, card_no=self.card_no)
        if expected is None:  # every loss reported through this channel is lifted
            if m.replacement == "produced":
                m.replacement = "cancelled"
            if m.formal == family:
                m.formal = None
            if temporary == family:
                m.drop_temporaries(ended=False)

    @rule(hours=st.integers(min_value=0, max_value=200), minutes=st.integers(0, 59))
    def advance_clock(self, hours, minutes):
        self.model.now = self.platform.clock.advance(hours=hours, minutes=minutes)

    @rule(offset=st.sampled_from([-1, 0, 1]))
    def advance_to_the_end_of_the_temporary_loss(self, offset):
        """Land a minute before, exactly at, or a minute after the 168-hour mark."""
        ends = [e for e, _ in self.model.temporaries if self.model.now < e]
        if ends:
            target = ends[0] + timedelta(minutes=offset)
            self.platform.clock.set(max(target, self.model.now))
            self.model.now = self.platform.clock.now()

    @rule()
    def run_job(self):
        before = self._expired_blocks()
        jobs.expire_temporary_losses(self.platform)
        assert self._expired_blocks() - before == self.model.drop_temporaries(ended=True)

    def _expired_blocks(self) -> int:
        with self.platform.uow() as uow:
            blocks = service.card_blocks(uow=uow, card_no=self.card_no)
        return sum(1 for b in blocks if b.lift_reason == "expired")

    @rule()
    def produce_replacement(self):
        m = self.model
        allowed = not m.retired and m.formal and m.replacement != "produced"
        with self.platform.uow() as uow:
            try:
                replaced = service.check_replacement_allowed(uow=uow, person_id=self.person_id)
            except errors.ReplacementNotAllowed:
                assert not allowed
                return
        assert allowed and replaced == self.card_no
        view = self.attempt(None, service.register_produced_card, actor=SYSTEM,
                            application_id=None, person_id=self.person_id, kind="replacement",
                            bank_code="ICBC", issue_date=local_date(m.now),
                            predecessor_card_no=self.card_no, **new_card_numbers())
        self.replacement_no, m.replacement = view.card_no, "produced"

    @rule()
    def hand_over_replacement(self):
        if self.replacement_no is None:
            return
        m = self.model
        expected = None if m.replacement == "produced" else errors.CardNotInUse
        self.attempt(expected, service.hand_over, actor=OUTLET, card_no=self.replacement_no)
        if expected is None:
            m.replacement, m.retired = "handed_over", True

    @rule()
    def freeze(self):
        m = self.model
        expected = (errors.CardNotInUse if m.retired else errors.AlreadyFrozen if m.frozen
                    else None)
        self.attempt(expected, service.freeze, actor=ADMIN, card_no=self.card_no,
                     reason_code="check")
        m.frozen = True if expected is None else m.frozen

    @rule()
    def unfreeze(self):
        m = self.model
        expected = None if m.frozen else errors.NotFrozen
        self.attempt(expected, service.unfreeze, actor=ADMIN, card_no=self.card_no)
        m.frozen = False if expected is None else m.frozen

    @invariant()
    def card_matches_the_model(self):
        with self.platform.uow() as uow:
            view = service.get_card(uow=uow, card_no=self.card_no)
        assert view.hr_status == self.model.hr_status()
        assert view.financial_status == self.model.financial_status()
        assert view.bank_financial_status == self.model.bank_financial_status()
        assert view.state == ("retired" if self.model.retired else "in_use")
        if self.replacement_no is not None:
            with self.platform.uow() as uow:
                replacement = service.get_card(uow=uow, card_no=self.replacement_no)
            assert replacement.state == {"produced": "produced", "cancelled": "cancelled",
                                         "handed_over": "in_use"}[self.model.replacement]


def test_random_lifecycles_follow_the_rules(platform):
    Lifecycle.platform = platform
    run_state_machine_as_test(Lifecycle, settings=settings(
        max_examples=30, stateful_step_count=25, deadline=None))
