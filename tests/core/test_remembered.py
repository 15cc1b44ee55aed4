"""core.remembered: bounded memories of a hot path."""

from __future__ import annotations

from yikatong.core.remembered import ByIdentity, Remembered


def test_remembered_forgets_the_oldest_beyond_its_size():
    kept = Remembered(2)
    for key in "abc":
        assert kept.keep(key, key.upper()) == key.upper()
    assert (kept.get("a"), kept.get("b"), kept.get("c"), len(kept)) == (None, "B", "C", 2)


def test_by_identity_derives_once_per_object_and_never_for_an_equal_one():
    made = []
    derived = ByIdentity(4, lambda thing: made.append(thing) or len(made))
    one, equal = [1], [1]
    assert (derived(one), derived(one), derived(equal)) == (1, 1, 2)
    assert made == [[1], [1]] and made[0] is one and made[1] is equal


def test_by_identity_keeps_what_it_remembers_so_its_identity_is_not_reused():
    derived = ByIdentity(1, lambda thing: object())
    first = derived([1])  # the list is kept with its value: no other object gets its id
    assert all(derived([2]) is not first for _ in range(100))
