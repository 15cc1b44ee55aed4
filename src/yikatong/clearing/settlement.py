"""Settlement postings: purchases are posted to the ledger aggregated per (file, operator, card
issuer): our cards' fares from the wallet float, others' as receivables from their issuer, each to
the payable of the terminal's operator. What the card paid is what is settled. The float may not
go negative: what our cards spent that never came through a top-up (a tampered card) is debited to
the suspense expense account `clearing:unfunded_spend` instead, and the card is flagged
(`unfunded_spend`) and deny-listed; the upload never fails for it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from yikatong.clearing import rules
from yikatong.clearing.batches import SETTLEMENT_KIND, Posting
from yikatong.clearing.fileformat import (
    BatchRecord,
)
from yikatong.clearing.records import FileClearing
from yikatong.clearing.rules import Reason
from yikatong.clearing.shadow_balances import shadow_balance
from yikatong.core.actor import Actor
from yikatong.core.money import Fen
from yikatong.db.uow import UnitOfWork
from yikatong.ledger import service as ledger
from yikatong.transit import rules as transit_rules


def post_settlements(uow: UnitOfWork, file_id: str, groups: list[rules.SettlementGroup], records: Sequence[BatchRecord],
          unfunded: dict[str, Fen] | None = None) -> list[Posting]:
    """One journal per (file, operator, issuer); zero-fare groups (free riders) post nothing.

    Our cards' fares come out of the wallet float, which never goes negative. When a group
    would overdraw it, money was spent that never came through a top-up (a tampered card): the
    cards of the group whose shadow balance is now negative are found and their unfunded
    spending in the group (at least the float's shortfall) is debited to the suspense expense
    account rules.UNFUNDED_SPEND instead; `unfunded` receives those cards (asn → fen), for
    the caller to flag and deny-list. The upload goes through either way. `records` are
    what the groups' indexes point into."""
    postings = []
    for group in groups:
        debit, credit = group.accounts()
        short = 0
        if group.amount:
            for code in (debit, credit):
                _open_account(uow, code)
            legs = [(debit, group.amount), (credit, -group.amount)]
            if debit == transit_rules.WALLET_FLOAT and unfunded is not None:
                short = _unfunded_part(uow, group, records, unfunded)
                if short:
                    _open_account(uow, rules.UNFUNDED_SPEND)
                    legs = [leg for leg in [(debit, group.amount - short), (rules.UNFUNDED_SPEND, short),
                                            (credit, -group.amount)] if leg[1]]
            ledger.post(uow=uow, request_id=f"clearing:{file_id}:{group.city}:{group.operator}:{group.issuer_id}",
                        kind=SETTLEMENT_KIND, legs=legs, memo=f"{file_id}: {group.count} records / 笔")
        postings.append(Posting(group.city, group.operator, group.issuer_id, group.count, group.amount, debit, credit,
                                short))
    return postings


def _unfunded_part(uow: UnitOfWork, group: rules.SettlementGroup, records: Sequence[BatchRecord],
                   unfunded: dict[str, Fen]) -> Fen:
    """How much of an own-card group the float cannot pay (0 almost always: one balance read)."""
    available = max(ledger.balance(uow=uow, code=transit_rules.WALLET_FLOAT), 0)
    if group.amount <= available:
        return 0
    spent: dict[str, Fen] = defaultdict(int)
    for r in (records[i] for i in group.indexes):
        spent[r.asn] += r.amount
    attributed = 0
    for asn, amount in sorted(spent.items()):
        shadow = shadow_balance(uow=uow, asn=asn) or 0  # this file's purchases already count
        if shadow < 0:
            unfunded[asn] = unfunded.get(asn, 0) + min(-shadow, amount)
            attributed += min(-shadow, amount)
    return min(group.amount, max(group.amount - available, attributed))


def flag_unfunded(uow: UnitOfWork, actor: Actor, state: FileClearing, settled: list[int],
                   unfunded: dict[str, Fen]) -> None:
    """Each card that spent money it was never loaded with: an exception on its last settled
    purchase of the file, and the deny list (its records are still settled: the operator
    carried the rider)."""
    if not unfunded:
        return
    from yikatong.transit import deny_list

    last = {state.records[i].asn: i for i in settled}
    for asn, amount in sorted(unfunded.items()):
        state.flag(last[asn], Reason.UNFUNDED_SPEND, unfunded=amount)
        deny_list.add(uow=uow, asn=asn, reason=rules.UNFUNDED_DENY_REASON, actor=actor)


def _open_account(uow: UnitOfWork, code: str) -> None:
    if code == rules.UNFUNDED_SPEND:
        kind, allow_negative = "expense", False
    elif code.startswith("transit:"):
        kind, allow_negative = transit_rules.account_settings(code)
    else:
        kind, allow_negative = rules.account_kind(code), False
    ledger.open_account(uow=uow, code=code, kind=kind, allow_negative=allow_negative)


def deny_forged(uow: UnitOfWork, actor: Actor, asns: Iterable[str]) -> None:
    from yikatong.transit import deny_list

    for asn in sorted(asns):
        deny_list.add(uow=uow, asn=asn, reason=deny_list.DenyReason.TAC_FAILED, actor=actor)
