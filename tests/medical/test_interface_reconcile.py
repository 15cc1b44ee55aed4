"""Daily reconciliation (3201 totals, 3202 details): the comparison, pure; the platform's
side through the interface once visits are settled (test_interface_visit.py)."""

from __future__ import annotations

from yikatong.medical.reconcile import Record, Totals, compare_details, compare_totals


def record(setl_id: str, medfee: int = 10_000, fund: int = 6_000, acct: int = 1_000,
           cash: int = 3_000, cancelled: bool = False) -> Record:
    return Record(setl_id=setl_id, medfee_sumamt=medfee, fund_pay_sumamt=fund, acct_pay=acct,
                  psn_cash_pay=cash, cancelled=cancelled)


def test_totals_agree_to_the_fen_or_name_each_difference():
    ours = Totals(count=3, medfee_sumamt=30_000, fund_pay_sumamt=18_000, acct_pay=3_000,
                  psn_cash_pay=9_000)
    assert compare_totals(ours, ours).agree and compare_totals(ours, ours).differences == {}
    theirs = Totals(count=3, medfee_sumamt=30_001, fund_pay_sumamt=18_000, acct_pay=3_000,
                    psn_cash_pay=9_001)
    result = compare_totals(ours, theirs)
    assert not result.agree and result.differences == {"medfee_sumamt": 1, "psn_cash_pay": 1}
    fewer = compare_totals(ours, Totals(count=2, **{k: v for k, v in ours.as_dict().items()
                                                    if k != "count"}))
    assert fewer.differences == {"count": -1}


def test_details_list_every_settlement_that_differs_and_only_those():
    ours = [record("S1"), record("S2"), record("S3", cancelled=True), record("S4")]
    theirs = [record("S1"), record("S2", cash=3_100), record("S3"), record("S5")]
    found = {d.setl_id: d for d in compare_details(ours, theirs)}
    assert set(found) == {"S2", "S3", "S4", "S5"}
    assert found["S2"].kind == "amounts_differ" and found["S2"].fields == ("psn_cash_pay",)
    assert found["S3"].kind == "state_differs"
    assert found["S4"].kind == "missing_at_institution" and found["S4"].institution is None
    assert found["S5"].kind == "missing_at_platform" and found["S5"].platform is None
    assert compare_details(ours, ours) == []
    assert compare_details([], []) == []
