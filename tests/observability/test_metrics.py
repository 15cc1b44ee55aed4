"""/metrics: who may read it, what a scrape says (per route template, never a card number), the
database's figures (outbox lag, bank sync lag, clearing progress), and /readyz."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from yikatong.core.actor import Role

pytestmark = pytest.mark.db


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a Prometheus text exposition."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def monitoring_key(platform, admin_actor) -> dict[str, str]:
    from yikatong.auth.service import create_api_key, create_user

    with platform.uow() as uow:
        user = create_user(uow=uow, actor=admin_actor, username="prometheus", password=None,
                           role=Role.MONITORING)
        key = create_api_key(uow=uow, user=user, label="scraper", actor=admin_actor)
        uow.commit()
    return {"X-API-Key": key}


def test_metrics_are_refused_without_a_credential_and_to_other_roles(client, login):
    assert client.get("/metrics").status_code == 401
    outlet = login(Role.SS_OUTLET)
    refused = client.get("/metrics", headers=outlet)
    assert refused.status_code == 403 and refused.json()["details"]["reason"] == "role_not_allowed"


def test_the_monitoring_key_reads_metrics_and_nothing_else(client, platform, admin_actor):
    key = monitoring_key(platform, admin_actor)
    answer = client.get("/metrics", headers=key)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    # Prometheus's `authorization: {type: Bearer, credentials_file: …}` sends the key so
    as_bearer = client.get("/metrics", headers={"Authorization": f"Bearer {key['X-API-Key']}"})
    assert as_bearer.status_code == 200
    for path in ("/api/v1/cards", "/api/v1/people", "/api/v1/auth/users/x/api-keys"):
        assert client.get(path, headers=key).status_code == 403, path


def test_requests_are_counted_by_route_template_never_by_the_card_number(client, platform, admin_actor, login):
    admin = login(Role.ADMIN)
    card_numbers = ["B00000019", "B00000027", "B00000035"]
    for card_no in card_numbers:
        assert client.get(f"/api/v1/cards/{card_no}", headers=admin).status_code == 404
    client.get("/no/such/path/320402199003070013")
    text = client.get("/metrics", headers=monitoring_key(platform, admin_actor)).text
    assert not any(card_no in text for card_no in card_numbers)
    assert "320402199003070013" not in text
    found = samples(text)
    route = (("method", "GET"), ("route", "/api/v1/cards/{card_no}"))
    assert found["ykt_http_requests_total", (*route, ("status", "404"))] >= 3
    assert found["ykt_http_request_duration_seconds_count", route] >= 3
    assert found["ykt_http_request_duration_seconds_sum", route] > 0
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert found["ykt_http_requests_total", unmatched] >= 1


def test_the_database_figures_outbox_banks_and_clearing(client, platform, admin_actor, clock):
    from yikatong.events.models import OutboxEvent

    now = clock.now()
    with platform.uow() as uow:
        for seq, (partner, age, published) in enumerate(
                [(None, 30, False), ("ICBC", 120, False), ("ICBC", 10, False), ("ICBC", 500, True)], 1):
            uow.session.add(OutboxEvent(
                event_id=f"00000000-0000-0000-0000-{seq:012d}", type="card.lost",
                aggregate_type="card", aggregate_id="B00000019", partner=partner, payload={},
                occurred_at=now - timedelta(seconds=age),
                published_at=now if published else None))
        uow.commit()
    found = samples(client.get("/metrics", headers=monitoring_key(platform, admin_actor)).text)
    assert found["ykt_database_figures_up", ()] == 1
    assert found["ykt_outbox_unpublished_events", ()] == 3
    assert found["ykt_outbox_oldest_unpublished_age_seconds", ()] == 120
    assert found["ykt_bank_undelivered_events", (("bank", "ICBC"),)] == 2
    assert found["ykt_bank_sync_lag_seconds", (("bank", "ICBC"),)] == 120
    assert found["ykt_bank_last_message_applied_timestamp_seconds", (("bank", "ICBC"),)] == 0
    assert found["ykt_clearing_records_awaiting_house", ()] == 0
    assert found["ykt_clearing_last_file_timestamp_seconds", ()] == 0


@pytest.mark.no_db
def test_a_failing_database_read_is_reported_not_raised(platform):
    from yikatong.observability.collectors import PlatformCollector

    class Broken:
        def uow(self, **_):
            raise ConnectionError("database away")

    families = PlatformCollector(lambda: Broken()).collect()
    assert [(f.name, f.samples[0].value) for f in families] == [("ykt_database_figures_up", 0)]


def test_readyz_answers_ready_with_each_check(client):
    answer = client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ready"
    assert answer.json()["checks"]["database"]["ok"] is True


@pytest.mark.no_db
def test_readyz_answers_503_naming_the_database_when_it_hangs(platform, monkeypatch):
    import time

    from yikatong.api.app import create_app
    from yikatong.observability import health

    monkeypatch.setattr(health, "TIMEOUT", 0.2)
    monkeypatch.setattr(health, "database_ok", lambda _platform: time.sleep(1))
    with TestClient(create_app(platform)) as client:
        answer = client.get("/readyz")  # answered at the check's timeout, not the database's
    assert answer.status_code == 503
    problem = answer.json()
    assert problem["code"] == "not_ready" and problem["details"]["failed"] == ["database"]
    assert problem["checks"]["database"] == {"ok": False, "ms": problem["checks"]["database"]["ms"],
                                             "error": "timeout after 0.2 s"}
    assert "未通过" in problem["title"] and "database" in problem["title_en"]


def test_readyz_checks_the_broker_when_the_platform_uses_nats(platform, monkeypatch):
    from dataclasses import replace

    from yikatong.api.app import create_app

    platform.settings = replace(platform.settings, nats_url="nats://127.0.0.1:9")  # nobody there
    with TestClient(create_app(platform)) as client:
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["details"]["failed"] == ["broker"]
    assert answer.json()["checks"]["database"]["ok"] is True


def test_clearing_progress_counts_the_day_s_files_and_their_records(client, platform, admin_actor, clock):
    from yikatong.clearing.models import ClearingBatch

    now = clock.now()
    with platform.uow() as uow:
        for number, (records, days_ago) in enumerate([(120, 0), (30, 0), (999, 2)], 1):
            uow.session.add(ClearingBatch(
                file_id=f"TRM-{number}", kind="TERMINAL", direction="in", sender="CZBUS",
                digest="0" * 64, record_count=records, total_1=0, total_2=0,
                received_at=now - timedelta(days=days_ago), received_by="bus", result={}))
        uow.commit()
    found = samples(client.get("/metrics", headers=monitoring_key(platform, admin_actor)).text)
    labels = (("direction", "in"), ("kind", "TERMINAL"))
    assert found["ykt_clearing_files_today", labels] == 2
    assert found["ykt_clearing_records_today", labels] == 150
    assert found["ykt_clearing_last_file_timestamp_seconds", ()] == now.timestamp()


@pytest.mark.no_db
def test_what_a_process_counts_itself_clearing_files_and_bank_messages():
    from datetime import datetime

    from prometheus_client import REGISTRY

    from yikatong.clearing.batches import BatchResult
    from yikatong.observability.metrics import count_clearing_file, observe_bank_message

    def value(name, **labels):
        return REGISTRY.get_sample_value(name, labels) or 0.0

    files = value("ykt_clearing_files_processed_total", kind="TERMINAL", outcome="received")
    cleared = value("ykt_clearing_records_processed_total", status="cleared")
    rejected = value("ykt_clearing_records_processed_total", status="rejected")
    count_clearing_file(BatchResult(file_id="F1", kind="TERMINAL", records=5, cleared=4, rejected=1), 0.2)
    count_clearing_file(BatchResult(file_id="F1", kind="TERMINAL", records=5, cleared=4, rejected=1,
                                    replayed=True), 0.01)  # the same file again: no new records
    assert value("ykt_clearing_files_processed_total", kind="TERMINAL", outcome="received") == files + 1
    assert value("ykt_clearing_records_processed_total", status="cleared") == cleared + 4
    assert value("ykt_clearing_records_processed_total", status="rejected") == rejected + 1
    delays = value("ykt_bank_message_apply_delay_seconds_count", bank="TESTBANK")
    observe_bank_message("TESTBANK", datetime(2026, 3, 2, 1, 0), datetime(2026, 3, 2, 1, 0, 3))
    assert value("ykt_bank_message_apply_delay_seconds_count", bank="TESTBANK") == delays + 1
    assert value("ykt_bank_message_apply_delay_seconds_bucket", bank="TESTBANK", le="5.0") >= 1
