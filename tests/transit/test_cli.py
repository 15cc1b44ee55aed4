"""`ykt transit grant-rider / rider-grants / revoke-rider-grant / refused-rewrites /
reset-refused-rewrite` against a test database: each change lands (read back through the
service and the audit), a retry with the printed key is one grant, and a refused request prints
its code and both messages, exits non-zero and changes nothing."""

from __future__ import annotations

import getpass
import re

import pytest
from sqlalchemy import select

from tests.conftest import cli_on
from tests.transit.conftest import COUNTER
from tests.transit.test_rider_grants import PUPIL_BORN, counts, flags, refusing_card, wallet
from tests.transit.test_rider_updates import holder
from yikatong.audit.models import AuditRecord
from yikatong.transit import grants, riders, service
from yikatong.transit.errors import RiderGrantExists, RiderRewriteNotRefused

pytestmark = pytest.mark.db
PROOF = "XJ3204022014090100123"
REASON = "证明有误 recorded in error [see file 12/3]"  # brackets: text, not Rich markup
STUDENT = ("--proof-kind", "student_status_certificate", "--proof-ref", PROOF, "--until", "2026-07-31")


@pytest.fixture
def ykt(wallet_platform, monkeypatch):
    return cli_on(wallet_platform, monkeypatch)


def listed(platform, person_id: int) -> list[grants.GrantView]:
    with platform.uow() as uow:
        return grants.list_rider_grants(uow=uow, person_id=person_id)


def grant_audits(platform) -> list[AuditRecord]:
    with platform.uow() as uow:
        return list(uow.session.execute(select(AuditRecord).where(
            AuditRecord.entity_type == "transit_rider_grant").order_by(AuditRecord.seq)).scalars())


def said(output: str, error) -> bool:
    """The CLI printed the error's code and both messages (however the terminal wrapped them)."""
    line = f"✗ {error.code} {error.message_zh} / {error.message_en}"
    return "".join(line.split()) in "".join(output.split())


def printed_key(output: str) -> str:
    return re.search(r"--key (\S+?)）", output).group(1)


def test_grant_list_and_revoke_through_the_cli(ykt, wallet_platform):
    pupil = holder(wallet_platform, PUPIL_BORN)
    granted = ykt("transit", "grant-rider", pupil, "student", *STUDENT, "--outlet", "SMK-PARTNER-01")
    assert granted.exit_code == 0, granted.output
    assert "已授予 / granted" in granted.output and PROOF not in granted.output
    [view] = listed(wallet_platform, pupil)
    assert (view.category, view.state, view.in_force, view.granted_by, view.outlet_code) == (
        "student", "active", True, f"cli:{getpass.getuser()}", "SMK-PARTNER-01")
    assert [(a.action, a.actor_id, a.after["outlet_code"]) for a in grant_audits(wallet_platform)] == [
        (grants.GRANTED, f"cli:{getpass.getuser()}", "SMK-PARTNER-01")]

    shown = ykt("transit", "rider-grants", pupil)
    assert shown.exit_code == 0, shown.output
    assert view.proof_reference in shown.output and PROOF not in shown.output  # masked, as the service gives it
    assert str(view.id) in shown.output and "有效 active" in shown.output

    revoked = ykt("transit", "revoke-rider-grant", view.id, "--reason", REASON)
    assert revoked.exit_code == 0, revoked.output
    assert "已撤销 / revoked" in revoked.output and REASON in revoked.output
    [view] = listed(wallet_platform, pupil)
    assert (view.state, view.in_force, view.revoke_reason) == ("revoked", False, REASON)
    assert [(a.action, a.reason) for a in grant_audits(wallet_platform)] == [
        (grants.GRANTED, None), (grants.REVOKED_ACTION, REASON)]

    before = counts(wallet_platform)
    again = ykt("transit", "revoke-rider-grant", view.id, "--reason", "twice")
    assert again.exit_code == 1 and "transit_rider_grant_not_active" in again.output
    unknown = ykt("transit", "revoke-rider-grant", 999_999, "--reason", "no such grant")
    assert unknown.exit_code == 1 and "transit_rider_grant_not_found" in unknown.output
    assert counts(wallet_platform) == before


def test_a_retry_with_the_printed_key_is_one_grant(ykt, wallet_platform):
    pupil = holder(wallet_platform, PUPIL_BORN)
    first = ykt("transit", "grant-rider", pupil, "student", *STUDENT)
    assert first.exit_code == 0, first.output
    key = printed_key(first.output)
    after_one = counts(wallet_platform)
    retry = ykt("transit", "grant-rider", pupil, "student", *STUDENT, "--key", key)
    assert retry.exit_code == 0, retry.output
    assert printed_key(retry.output) == key and counts(wallet_platform) == after_one
    assert len(listed(wallet_platform, pupil)) == 1
    other = ykt("transit", "grant-rider", pupil, "student", *STUDENT[:-1], "2026-06-30", "--key", key)
    assert other.exit_code == 1 and "idempotency_key_reused" in other.output
    assert counts(wallet_platform) == after_one


@pytest.mark.parametrize(("change", "code"), [
    ({"category": "veteran"}, "transit_rider_category_unknown"),
    ({"category": "[/x]"}, "transit_rider_category_unknown"),  # echoed in the message: not Rich markup
    ({"category": "senior_70"}, "transit_rider_category_by_age"),
    ({"--proof-kind": "disability_certificate"}, "transit_rider_proof_kind"),
    ({"--until": "2026-13-01"}, "invalid_input"),
    ({"--proof-ref": ""}, "invalid_input"),
    ({"--key": "short"}, "invalid_input"),
    ({"person_id": 999_999}, "person_not_found"),
    ({"--outlet": "SMK-NOWHERE"}, "unknown_outlet"),
    ({"--outlet": "SMK-SELF-01"}, "transit_rider_grant_outlet"),  # a machine checks no proof
])
def test_a_refused_grant_prints_its_code_and_changes_nothing(ykt, wallet_platform, change, code):
    pupil = holder(wallet_platform, PUPIL_BORN)
    request = {"person_id": pupil, "category": "student", **dict(zip(STUDENT[::2], STUDENT[1::2], strict=True)),
               **change}
    options = [part for name, value in request.items() if name.startswith("--") for part in (name, value)]
    before = counts(wallet_platform)
    refused = ykt("transit", "grant-rider", request["person_id"], request["category"], *options)
    assert refused.exit_code == 1 and f"✗ {code}" in refused.output, refused.output
    assert PROOF not in refused.output
    assert counts(wallet_platform) == before and listed(wallet_platform, pupil) == []


def test_a_second_active_grant_is_refused_with_both_messages(ykt, wallet_platform):
    pupil = holder(wallet_platform, PUPIL_BORN)
    assert ykt("transit", "grant-rider", pupil, "student", *STUDENT).exit_code == 0
    [first] = listed(wallet_platform, pupil)
    before = counts(wallet_platform)
    second = ykt("transit", "grant-rider", pupil, "student", *STUDENT[:-1], "2026-06-30")
    expected = RiderGrantExists(category="student", grant_id=first.id, valid_until="2026-07-31")
    assert second.exit_code == 1
    assert said(second.output, expected)
    assert counts(wallet_platform) == before and [g.id for g in listed(wallet_platform, pupil)] == [first.id]


def test_reset_of_a_card_not_flagged_is_refused(ykt, wallet_platform, make_card):
    card = make_card(person_id=holder(wallet_platform, PUPIL_BORN), birth_date=PUPIL_BORN)
    before = counts(wallet_platform)
    refused = ykt("transit", "reset-refused-rewrite", card.asn)
    expected = RiderRewriteNotRefused(asn=card.asn)
    assert refused.exit_code == 1
    assert said(refused.output, expected)
    assert counts(wallet_platform) == before and flags(wallet_platform, card.asn) == []


def test_a_flagged_card_is_listed_and_reset(ykt, wallet_platform, make_card):
    def cli_grant(person_id: int):
        assert ykt("transit", "grant-rider", person_id, "student", *STUDENT).exit_code == 0

    card, _ = refusing_card(wallet_platform, make_card, cli_grant)
    for _ in range(riders.MAX_REFUSALS):
        service.contact(platform=wallet_platform, reader=card.present(), actor=COUNTER)
    assert wallet(wallet_platform, card.asn).rider_refused_at is not None
    shown = ykt("transit", "refused-rewrites")
    assert shown.exit_code == 0 and card.asn in shown.output and card.card_no in shown.output, shown.output
    assert "6988" in shown.output and "1 张 / cards" in shown.output

    reset = ykt("transit", "reset-refused-rewrite", card.asn)
    assert reset.exit_code == 0 and "已重置 / reset" in reset.output, reset.output
    assert wallet(wallet_platform, card.asn).rider_refused_at is None
    assert [f.action for f in flags(wallet_platform, card.asn)] == [riders.REFUSED_ACTION, riders.RESET_ACTION]
    assert card.asn not in ykt("transit", "refused-rewrites").output
