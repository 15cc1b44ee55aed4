"""The SMS seam: every message recorded (template, masked phone, status, time, zh + en text
with codes blanked), delivered only after its transaction commits, a carrier failure recorded
and never undoing the change; the development outbox read by the CLI and, in development mode
only, by the card centre's route."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from sqlalchemy import select

from tests.conftest import cli_on
from yikatong.applications.reference import SyntheticIdentityAuthenticator
from yikatong.core.actor import Role
from yikatong.notices import service
from yikatong.notices.models import SmsMessage
from yikatong.notices.protocols import SmsGateway
from yikatong.notices.reference import DevelopmentSmsOutbox

pytestmark = pytest.mark.db

PHONE = "13912345678"


def messages(platform) -> list[SmsMessage]:
    with platform.uow() as uow:
        return list(uow.session.execute(select(SmsMessage).order_by(SmsMessage.id)).scalars())


def send_code(platform, code: str = "482913", *, commit: bool = True):
    with platform.uow() as uow:
        service.send_sms(uow=uow, template="code_sign_up", phone=PHONE, person_id=7,
                         params={"code": code, "minutes": 10})
        if commit:
            uow.commit()


def test_a_message_is_recorded_then_delivered_after_the_commit(platform, clock):
    send_code(platform)
    [record] = messages(platform)
    assert (record.template, record.phone_masked, record.person_id, record.status) == (
        "code_sign_up", "139****5678", 7, "sent")
    assert record.text_zh.startswith("【常州一卡通】") and "******" in record.text_zh
    assert "482913" not in record.text_zh + record.text_en and "sign-up code" in record.text_en
    assert record.created_at == record.sent_at == clock.now()
    [delivery] = platform.get(SmsGateway).delivered(phone=PHONE)
    assert "482913" in delivery.text and delivery.reference == f"sms-{record.id}"
    assert record.carrier_ref == f"DEV-{delivery.id}"


def test_a_rolled_back_change_texts_nobody(platform):
    send_code(platform, commit=False)
    assert messages(platform) == [] and platform.get(SmsGateway).delivered() == []
    send_code(platform)  # the same session machinery still delivers the next one
    assert len(platform.get(SmsGateway).delivered()) == 1


def test_a_carrier_outage_is_recorded_and_never_logs_the_text(platform, caplog):
    platform.get(SmsGateway).available = False
    caplog.set_level(logging.DEBUG)
    send_code(platform, "771204")
    [record] = messages(platform)
    assert record.status == "failed" and record.sent_at is None
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "not delivered" in logged and "771204" not in logged and PHONE not in logged


@pytest.mark.no_db
def test_the_development_implementations_are_marked(platform):
    # Production start refuses a registered seam implementation with this marker.
    assert isinstance(platform.get(SmsGateway), DevelopmentSmsOutbox)
    assert DevelopmentSmsOutbox.development_only is True
    assert SyntheticIdentityAuthenticator.development_only is True


def test_the_card_centre_reads_the_record_and_in_development_the_outbox(client, platform, login):
    send_code(platform)
    admin = login(Role.ADMIN)
    [recorded] = client.get("/api/v1/notices/sms", headers=admin).json()
    assert recorded["phone_masked"] == "139****5678" and "482913" not in str(recorded)
    [outbox] = client.get("/api/v1/notices/sms/outbox", headers=admin).json()
    assert outbox["phone"] == PHONE and "482913" in outbox["text"]
    for role in (Role.HOLDER, Role.SS_OUTLET, Role.PHONE_AGENT, Role.BANK):
        headers = login(role)
        assert client.get("/api/v1/notices/sms/outbox", headers=headers).status_code == 403
        assert client.get("/api/v1/notices/sms", headers=headers).status_code == 403
    assert client.get("/api/v1/notices/sms/outbox").status_code == 401


def test_in_production_there_is_no_outbox_to_read(client, platform, login, monkeypatch):
    admin = login(Role.ADMIN)
    send_code(platform)
    monkeypatch.setattr(platform, "settings", replace(platform.settings, environment="production"))
    hidden = client.get("/api/v1/notices/sms/outbox", headers=admin)
    assert hidden.status_code == 404 and hidden.json()["code"] == "route_not_found"
    assert "482913" not in hidden.text


def test_ykt_sms_outbox_and_log(platform, monkeypatch):
    ykt = cli_on(platform, monkeypatch)
    send_code(platform)
    shown = ykt("sms", "outbox", "--phone", PHONE)
    assert shown.exit_code == 0 and "482913" in shown.output and PHONE in shown.output
    log = ykt("sms", "log")
    assert log.exit_code == 0 and "139****5678" in log.output and "482913" not in log.output
    monkeypatch.setattr(platform, "settings", replace(platform.settings, environment="production"))
    refused = ykt("sms", "outbox")
    assert refused.exit_code == 1 and "route_not_found" in refused.output


def test_the_home_pages_notices_are_list_messages(platform, clock):
    """`read_messages_of` (the holder's home page, one plain select) answers what
    `list_messages(person_id=…)` answers: the person's notices, newest first, limited."""
    for code in ("111111", "222222", "333333"):
        send_code(platform, code)
        clock.advance(minutes=1)
    with platform.uow() as uow:
        service.send_sms(uow=uow, template="code_sign_up", phone="13900000000", person_id=8,
                         params={"code": "444444", "minutes": 10})
        uow.commit()
    with platform.uow(read_only=True) as uow:
        fast = service.read_messages_of(uow=uow, person_id=7, limit=2)
    with platform.uow() as uow:
        orm = service.list_messages(uow=uow, person_id=7, limit=2)
    assert fast == orm and len(fast) == 2 and fast[0].id > fast[1].id
    assert {m.person_id for m in fast} == {7}
