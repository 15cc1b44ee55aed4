"""The unit of work's idempotency store: a retry that overtook its first try answers that try's
stored response after a refusal, and only then (UnitOfWork.replay_or_raise)."""

from __future__ import annotations

import pytest

from yikatong.core.errors import Conflict, IdempotencyKeyReused

pytestmark = pytest.mark.db
REQUEST = {"card_no": "B01260001"}


class Refused(Conflict):
    code = "refused_for_the_test"
    zh = "测试拒绝"
    en = "refused for the test"


def test_a_refusal_after_the_first_try_stored_its_answer_gives_that_answer(platform):
    with platform.uow() as first:
        first.remember("test.scope", "key-0001", REQUEST, {"id": 7})
        first.commit()
    with platform.uow() as retry:
        assert retry.replay_or_raise("test.scope", "key-0001", REQUEST, Refused()) == {"id": 7}


def test_without_a_stored_answer_the_refusal_stands(platform):
    with platform.uow() as uow, pytest.raises(Refused):
        uow.replay_or_raise("test.scope", "key-0002", REQUEST, Refused())
    with platform.uow() as uow, pytest.raises(Refused):  # no key: nothing to look up
        uow.replay_or_raise("test.scope", None, REQUEST, Refused())


def test_the_key_stored_for_another_request_is_refused_as_reused(platform):
    with platform.uow() as first:
        first.remember("test.scope", "key-0003", REQUEST, {"id": 8})
        first.commit()
    with platform.uow() as retry, pytest.raises(IdempotencyKeyReused):
        retry.replay_or_raise("test.scope", "key-0003", {"card_no": "B01260002"}, Refused())
