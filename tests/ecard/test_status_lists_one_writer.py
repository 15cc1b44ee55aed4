"""The signed status lists have one writer at a time: the re-signing job, get_status_list and
every change that suspends or revokes an e-card rebuild both lists from a read and overwrite
the rows.

On PostgreSQL the job read the listed e-cards, a card loss then committed its own lists with
the e-card suspended, and the job overwrote them with what it had read: the suspended e-card
was missing from the signed suspension list until the next re-signing (terminals trust a copy
for fifteen minutes). Two first-ever publications at once crashed the job on the lists'
primary key (UniqueViolation pk_ecard_status_lists)."""

from __future__ import annotations

import pytest
from tests.cards.conftest import PHONE
from tests.conftest import second_while_first_holds
from tests.ecard.conftest import status_lists

from yikatong.cards import service as cards
from yikatong.ecard import jobs, rules, status_list

pytestmark = pytest.mark.db


def test_a_card_loss_while_the_job_re_signs_stays_on_the_suspension_list(platform, holder, clock):
    person = holder()
    status_lists(platform)  # published once
    clock.advance(rules.STATUS_LIST_REFRESH)  # due: the job re-signs

    def report_loss():
        return person.card_op(cards.report_loss, actor=PHONE, kind="temporary_loss")

    # The job has read the listed e-cards and is about to write its lists.
    outcome = second_while_first_holds(platform, "UPDATE ecard_status_lists",
                                       lambda: jobs.refresh_status_lists(platform), report_loss)
    assert outcome["first"] == 1 and not isinstance(outcome["second"], Exception), outcome
    suspension = status_lists(platform)[0]["credentialSubject"]["encodedList"]
    assert status_list.bit_is_set(suspension, person.ecard().status_index), \
        "the suspended e-card is missing from the signed suspension list"


def test_the_very_first_lists_signed_twice_at_once_are_signed_once(platform, holder):
    holder()

    def refresh():
        return jobs.refresh_status_lists(platform)

    outcome = second_while_first_holds(platform, "INSERT INTO ecard_status_lists", refresh, refresh)
    assert outcome == {"first": 1, "second": 0}, outcome
