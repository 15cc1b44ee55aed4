"""The card centre's pages (role admin): the dashboards and the audit trail.

The figures come from read-only use cases (centre.service, audit.service); this module only
puts them into words in the reader's language and draws the charts (centre.charts).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from babel.dates import format_date
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from yikatong.api.deps import current_actor, platform_dep
from yikatong.applications.rules import APPLICATION_STATES
from yikatong.audit import jobs as audit_jobs
from yikatong.audit import service as audit
from yikatong.audit.rules import without_personal_data
from yikatong.cards.rules import CARD_STATES, KIND_NAMES
from yikatong.centre import service
from yikatong.centre.charts import bar_chart
from yikatong.core.actor import Actor
from yikatong.core.errors import DomainError, InvalidInput
from yikatong.directory import service as directory
from yikatong.pages import formatting, i18n
from yikatong.pages.rendering import render
from yikatong.platform import Platform
from yikatong.transit.rules import ORDER_STATES

router = APIRouter(include_in_schema=False)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    return message


# The channels a loss or a top-up came through (core.actor.Channel, transit order channels).
CHANNEL_LABELS = {
    "outlet": N_("Social-security outlet"),
    "citizen_outlet": N_("Citizen-card outlet"),
    "phone_12333": N_("12333 phone line"),
    "online_portal": N_("Online service hall"),
    "online_app": N_("Jiangsu Smart HR app"),
    "bank_branch": N_("Bank branch"),
    "self_service": N_("Self-service machine"),
    "nfc": N_("Phone NFC"),
    "employer": N_("Employer"),
    "partner_api": N_("Partner system"),
    "system": N_("The platform itself"),
}
DAY_CHOICES = (7, 14, 30, 90)


class Words:
    """The reader's language for one page: gettext, the domain's pairs, days and durations."""

    def __init__(self, request: Request) -> None:
        self.locale = i18n.locale_of(request)
        self.gettext = i18n.translations(self.locale).gettext

    def pick(self, pair: tuple[str, str] | None, code: str) -> str:
        return i18n.pick(self.locale, *pair) if pair else code

    def state(self, table, code: str) -> str:
        words = table.words(code)
        return i18n.pick(self.locale, words.zh, words.en)

    def channel(self, code: str) -> str:
        label = CHANNEL_LABELS.get(code)
        return self.gettext(label) if label else code

    def short_day(self, day: date) -> str:
        if self.locale == i18n.ZH:
            return f"{day.month:02d}月{day.day:02d}日"
        return format_date(day, "d MMM", locale="en")

    def duration(self, seconds: int) -> str:
        _ = self.gettext
        hours, rest = divmod(seconds, 3600)
        minutes = rest // 60
        if hours:
            return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
        return _("%(minutes)d min") % {"minutes": minutes}


# --- dashboards ------------------------------------------------------------------------------


@router.get("/centre")
def dashboards(request: Request, days: str = "", actor: Actor = Depends(current_actor),
               platform: Platform = Depends(platform_dep)):
    """Applications, cards, losses, top-ups, clearing and the banks' sync lag, with charts
    (a period that is not one of the choices shows the default one)."""
    days = int(days) if days.isdigit() and int(days) in DAY_CHOICES else service.DEFAULT_DAYS
    with platform.uow(read_only=True) as uow:
        board = service.dashboard(uow=uow, days=days)
        banks = {bank.code: (bank.short_name_zh or bank.name_zh, bank.name_en)
                 for bank in directory.list_banks(uow=uow)}
    words = Words(request)
    return render(request, "centre/dashboard.html", {
        "board": board, "days": days, "day_choices": DAY_CHOICES, "charts": _charts(board, words, banks),
        "words": words, "application_states": APPLICATION_STATES, "card_states": CARD_STATES,
        "order_states": ORDER_STATES, "loss_kinds": KIND_NAMES, "banks": banks})


def _charts(board: service.Dashboard, words: Words, banks: dict) -> dict:
    _ = words.gettext
    no_data = _("No data in this period")
    days = [words.short_day(day) for day in board.applications.days]
    losses, top_ups = board.losses, board.top_ups
    loss_channels = service.keys_of(losses, "channel")
    top_up_channels = service.keys_of(top_ups, "channel")
    operators = [row.operator for row in board.clearing]
    return {
        "applications": bar_chart(
            title=_("Applications by day submitted, in their state now"), categories=days, stacked=True,
            series=[(words.state(APPLICATION_STATES, s.key), s.values) for s in board.applications.series],
            no_data=no_data),
        "cards": bar_chart(
            title=_("Cards by day produced, in their state now"), categories=days, stacked=True,
            series=[(words.state(CARD_STATES, s.key), s.values) for s in board.cards.series],
            no_data=no_data),
        "losses": bar_chart(
            title=_("Losses reported, by channel"), categories=[words.channel(c) for c in loss_channels],
            stacked=True, no_data=no_data,
            series=[(words.pick(KIND_NAMES.get(kind), kind),
                     _cells(losses, loss_channels, "channel", lambda r, k=kind: r.count if r.kind == k else 0))
                    for kind in service.keys_of(losses, "kind")]),
        "top_ups": bar_chart(
            title=_("Transit top-up orders, by channel and state"), stacked=True, no_data=no_data,
            categories=[words.channel(c) for c in top_up_channels],
            series=[(words.state(ORDER_STATES, state),
                     _cells(top_ups, top_up_channels, "channel",
                            lambda r, s=state: r.count if r.state == s else 0))
                    for state in service.keys_of(top_ups, "state")]),
        "clearing": bar_chart(
            title=_("Cleared card transactions, by transit operator"), categories=operators,
            no_data=no_data, formatter=formatting.money,
            series=[(_("Purchases"), [row.purchase_fen for row in board.clearing]),
                    (_("Loads"), [row.load_fen for row in board.clearing])]),
        "banks": bar_chart(
            title=_("Oldest event not yet delivered to each bank (minutes)"), no_data=no_data,
            categories=[words.pick(banks.get(lag.bank_code), lag.bank_code) for lag in board.banks],
            series=[(_("Minutes behind"), [lag.lag_seconds // 60 for lag in board.banks])]),
    }


def _cells(rows: Sequence, categories: Sequence[str], name: str, value: Callable) -> list[int]:
    """One series' value per category (0 where no row has it)."""
    return [sum(value(row) for row in rows if getattr(row, name) == category) for category in categories]


# --- the audit trail -------------------------------------------------------------------------

SEARCH_FIELDS = ("entity_type", "entity_id", "actor_id", "action", "since", "until")
PER_PAGE = 50


@router.get("/centre/audit")
def audit_trail(request: Request, actor: Actor = Depends(current_actor),
                platform: Platform = Depends(platform_dep)):
    """The trail searched by entity, actor, action and Beijing days, newest first, with the
    latest verification of its hash chains and checkpoints."""
    asked = {name: request.query_params.get(name, "").strip()[:64] for name in SEARCH_FIELDS}
    page_no = _page_number(request.query_params.get("page"))
    error, found = None, None
    try:
        search = _search(asked)
    except DomainError as refused:
        error, search = refused, None
    with platform.uow(read_only=True) as uow:
        if search is not None:
            found = audit.search_records(uow=uow, search=search, page=page_no, per_page=PER_PAGE)
        verification = audit.last_verification(uow=uow)
        start = audit.checkpoint_before(uow=uow, record_id=found.lowest_id) \
            if found is not None and found.lowest_id is not None else None
    query = {name: value for name, value in asked.items() if value}
    return render(request, "centre/audit.html", {
        "asked": asked, "found": found, "error": error, "verification": verification,
        "start_checkpoint": start, "image": shown_image,
        "query": urlencode(query), "page_link": lambda n: "?" + urlencode({**query, "page": n})},
        status_code=error.http_status if error else 200)


@router.post("/centre/audit/verify")
def verify_shown_range(request: Request, lowest_id: int = Form(ge=1), back: str = Form(default="", max_length=2000),
                       actor: Actor = Depends(current_actor), platform: Platform = Depends(platform_dep)):
    """Verify the trail from the newest checkpoint before the oldest record shown (so every
    shown record is read), keep the outcome, and show the page again with it."""
    with platform.uow(read_only=True) as uow:
        start = audit.checkpoint_before(uow=uow, record_id=lowest_id)
    audit_jobs.verify_and_record(platform, from_checkpoint=start, triggered_by=f"page:{actor.user_id}",
                                 actor=actor)
    query = back if back.startswith("?") else ""
    return RedirectResponse(f"/centre/audit{query}", status_code=303)


def shown_image(image) -> str:
    """A before/after image or reason as text. The trail stores them masked (UnitOfWork.audit);
    masking again costs nothing and keeps a record written before a key was listed masked."""
    masked = without_personal_data(image)
    return masked if isinstance(masked, str) else json.dumps(masked, ensure_ascii=False, sort_keys=True)


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() and 0 < int(text) < 10_000 else 1


def _search(asked: dict[str, str]) -> audit.RecordSearch:
    since, until = _day(asked["since"], "since"), _day(asked["until"], "until")
    if since and until and until < since:
        raise InvalidInput(reason_zh="截止日期早于起始日期", reason_en="the end day is before the start day")
    return audit.RecordSearch(
        entity_type=asked["entity_type"] or None, entity_id=asked["entity_id"] or None,
        actor_id=asked["actor_id"] or None, action=asked["action"] or None,
        since=service.day_start(since) if since else None,
        until=service.day_start(until + timedelta(days=1)) if until else None)


def _day(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise InvalidInput(reason_zh=f"日期 {name} 应为 YYYY-MM-DD", reason_en=f"{name} must be a day as YYYY-MM-DD",
                           field=name) from None
