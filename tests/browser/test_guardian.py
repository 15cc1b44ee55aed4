"""A guardian in a real browser: linked to a child under 16 at an outlet, they sign in, find
the child under "my children" on their card page, act for the child and report the child's
card lost. Axe on each page; screenshots of the child's page in zh and en."""

from __future__ import annotations

import itertools
import re
from datetime import date

from tests.browser.harness import assert_accessible, expect, screenshot, sign_in

_families = itertools.count(1)


def _family(platform) -> tuple[str, int, str, str]:
    """A guardian (a login tied to a new adult), a new child of 10 with a card in use, linked at
    an outlet: (the guardian's username, the child's person id, name, card number)."""
    from tests.cards.conftest import SYSTEM
    from tests.people.helpers import register
    from yikatong.applications.rules import luhn_complete
    from yikatong.auth.service import create_user
    from yikatong.cards import service
    from yikatong.core.actor import Actor, Channel, Role
    from yikatong.demo.population import PASSWORD
    from yikatong.people import guardians
    from yikatong.people.samples import make_citizen_ssn

    n = next(_families)
    outlet = Actor(user_id="browser-ss-op", role=Role.SS_OUTLET, channel=Channel.OUTLET,
                   branch_code="SS-TN-01")
    with platform.uow() as uow:
        today = guardians.today(uow)
    ids = []
    for born, gender, seq, name in ((date(1983, 4, 10 + n), "M", 901 + 2 * n, "顾建平"),
                                    (date(today.year - 10, 6, 10 + n), "F", 900 + 2 * n, "顾小满")):
        outcome = register(platform, actor=outlet, name=name, birth_date=born, gender=gender,
                           document_number=make_citizen_ssn("320404", born, gender, seq=seq),
                           as_of=today)
        assert outcome.outcome == "new", outcome
        ids.append(outcome.person_id)
    parent, child = ids
    card_no = f"G{980_000 + n:08d}"
    with platform.uow() as uow:
        service.register_produced_card(
            uow=uow, actor=SYSTEM, application_id=None, person_id=child, kind="first",
            bank_code="ICBC", issue_date=today, card_no=card_no,
            card_id_code=f"320400D1560000059800{n:012X}", chip_serial=f"GUARDIAN{n:08d}",
            asn=f"98{n:018d}", pan=luhn_complete(f"62122698{n:010d}"))
        service.hand_over(uow=uow, actor=outlet, card_no=card_no)
        guardians.link_guardian(uow=uow, actor=outlet, guardian_person_id=parent,
                                child_person_id=child, relation="parent",
                                documents=["household_register"])
        uow.commit()
    username = f"browser-guardian-{parent}"
    with platform.uow() as uow:
        create_user(uow=uow, actor=Actor.system("browser-tests"), username=username,
                    password=PASSWORD, role="holder", person_id=parent)
        uow.commit()
    return username, child, "顾小满", card_no


def test_a_guardian_reports_the_childs_card_lost(page, live_server):
    from sqlalchemy import select

    from yikatong.audit.models import AuditRecord
    from yikatong.cards import service

    platform = live_server.platform
    username, child, name, card_no = _family(platform)
    sign_in(page, username)
    expect(page).to_have_url(re.compile(r"/me$"))
    children = page.get_by_role("region", name=re.compile("^(我的子女|My children)$"))
    children.get_by_role("link", name=re.compile(f"(代{name}办理|Act for {name})")).click()
    expect(page).to_have_url(re.compile(rf"/me/children/{child}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)
    expect(page.get_by_role("note").first).to_contain_text(
        re.compile("电子社保卡为本人专用|The e-card is personal"))
    assert_accessible(page)
    screenshot(page, "guardian-child")

    card = page.get_by_role("region", name=re.compile(card_no))
    card.get_by_role("link", name=re.compile("^(办理临时挂失|Report a temporary loss)$")).click()
    expect(page).to_have_url(re.compile(rf"/me/cards/{card_no}/loss\?kind=temporary$"))
    assert_accessible(page)
    page.get_by_role("button", name=re.compile("确认挂失|Yes, report the loss")).click()
    expect(page.get_by_role("status")).to_contain_text(card_no)
    page.get_by_role("link", name=re.compile("返回子女的社保卡|Back to the child's card")).click()
    expect(page).to_have_url(re.compile(rf"/me/children/{child}$"))
    card = page.get_by_role("region", name=re.compile(card_no))
    expect(card.locator("ul.blocks")).to_contain_text(re.compile("临时挂失|temporary loss"))
    assert_accessible(page)

    with platform.uow() as uow:  # as the service tells it: the child's card, by the guardian
        assert service.get_card(uow=uow, card_no=card_no).hr_status == "temporary_loss"
        record = uow.session.execute(
            select(AuditRecord).where(AuditRecord.entity_type == "card",
                                      AuditRecord.entity_id == card_no)
            .order_by(AuditRecord.seq.desc()).limit(1)).scalar_one()
    assert record.actor_id == username and record.after["acting_for_person_id"] == child
