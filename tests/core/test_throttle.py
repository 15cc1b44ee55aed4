"""Login throttling and lockout, sign-up, e-card check, terminal and holder-call quotas
(auth/throttle.py), counted in the database so that every worker process sees them."""

from __future__ import annotations

import statistics
import threading
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from tests.pages.conftest import TOKEN_FIELD

from yikatong.api.app import create_app
from yikatong.auth.service import create_api_key, create_user
from yikatong.auth.throttle import DEFAULT_LIMITS, Throttle, parse_limits
from yikatong.core.actor import Role
from yikatong.core.settings import Settings
from yikatong.platform import Platform

pytestmark = pytest.mark.db

PASSWORD = "correct-horse-battery"
TOKEN = "/api/v1/auth/token"


def limit(platform: Platform, **limits: str) -> Throttle:
    """The platform's throttle with these rules changed (the others keep their defaults)."""
    throttle = Throttle(platform.engine, platform.clock, limits)
    platform.provide(Throttle, throttle)
    return throttle


def add_user(platform, admin_actor, username: str, role: Role = Role.SS_OUTLET, **fields) -> None:
    with platform.uow() as uow:
        create_user(uow=uow, actor=admin_actor, username=username, password=PASSWORD, role=role,
                    **fields)
        uow.commit()


def log_in(client, username: str, password: str = PASSWORD):
    return client.post(TOKEN, data={"username": username, "password": password})


def from_address(platform: Platform, address: str) -> TestClient:
    return TestClient(create_app(platform), client=(address, 40000))


def assert_refused(response, code: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code and body["status"] == 429
    assert body["title"] and body["title_en"] and body["title"] != body["title_en"]
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1 and body["details"]["retry_after"] == retry_after


# --- login: per user name ------------------------------------------------------------------


def test_a_user_name_is_locked_after_its_failures_until_the_window_ends(platform, client, clock,
                                                                        admin_actor):
    limit(platform, login_user="3 per 15 minutes")
    add_user(platform, admin_actor, "outlet-li")
    for _ in range(3):
        assert log_in(client, "outlet-li", "wrong-password-1").status_code == 401
    locked = log_in(client, "outlet-li")  # even the right password, while locked
    assert_refused(locked, "login_locked")
    assert 1 <= int(locked.headers["Retry-After"]) <= 15 * 60

    clock.advance(minutes=15)
    assert log_in(client, "outlet-li").status_code == 200


def test_an_unknown_user_name_locks_exactly_like_an_existing_one(platform, client, admin_actor):
    limit(platform, login_user="3 per 15 minutes")
    add_user(platform, admin_actor, "outlet-wang")
    answers = {}
    for username in ("outlet-wang", "nobody-here"):
        answers[username] = [log_in(client, username, "wrong-password-1") for _ in range(4)]
    known, unknown = answers["outlet-wang"], answers["nobody-here"]
    assert [r.status_code for r in known] == [r.status_code for r in unknown] == [401] * 3 + [429]
    assert [r.json() for r in known] == [r.json() for r in unknown]
    assert known[-1].headers["Retry-After"] == unknown[-1].headers["Retry-After"]


def test_a_successful_login_clears_the_user_names_failures(platform, client, admin_actor):
    limit(platform, login_user="3 per 15 minutes")
    add_user(platform, admin_actor, "outlet-zhao")
    for _ in range(2):
        assert log_in(client, "outlet-zhao", "wrong-password-1").status_code == 401
    assert log_in(client, "outlet-zhao").status_code == 200
    for _ in range(2):
        assert log_in(client, "outlet-zhao", "wrong-password-1").status_code == 401
    assert log_in(client, "outlet-zhao").status_code == 200


# --- login: per client address ----------------------------------------------------------------


def test_an_address_is_throttled_after_its_failures_and_other_addresses_are_not(platform,
                                                                                admin_actor):
    limit(platform, login_address="4 per 15 minutes")
    add_user(platform, admin_actor, "outlet-sun")
    attacker, neighbour = from_address(platform, "203.0.113.7"), from_address(platform, "203.0.113.8")
    for n in range(4):  # a different user name each time: the user-name lockout never fires
        assert log_in(attacker, f"guess-{n}", "wrong-password-1").status_code == 401
    assert_refused(log_in(attacker, "outlet-sun"), "too_many_requests")
    assert log_in(neighbour, "outlet-sun").status_code == 200


def test_successful_logins_do_not_spend_the_addresss_quota(platform, admin_actor):
    """Many citizens share a carrier's address: only failures count against it."""
    limit(platform, login_address="3 per 15 minutes")
    add_user(platform, admin_actor, "outlet-qian")
    office = from_address(platform, "198.51.100.20")
    for _ in range(5):
        assert log_in(office, "outlet-qian").status_code == 200
    for n in range(3):
        assert log_in(office, f"guess-{n}", "wrong-password-1").status_code == 401
    assert_refused(log_in(office, "outlet-qian"), "too_many_requests")


def test_ipv6_clients_count_by_their_64_prefix(platform):
    limit(platform, login_address="2 per 15 minutes")
    first, same_subnet = from_address(platform, "2001:db8:1:2::1"), from_address(platform, "2001:db8:1:2::ffff")
    other_subnet = from_address(platform, "2001:db8:1:3::1")
    for client in (first, same_subnet):
        assert log_in(client, "someone", "wrong-password-1").status_code == 401
    assert_refused(log_in(first, "someone-else", "x"), "too_many_requests")
    assert log_in(other_subnet, "someone-else", "wrong-password-1").status_code == 401


# --- every worker process sees the same counts ------------------------------------------------


def test_two_workers_on_one_database_share_the_lockout(platform, database_url, clock, tmp_path,
                                                       admin_actor):
    """Two Platform objects (two `ykt serve` workers) on one database: a guesser alternating
    between them gets the limit once, not once per worker."""
    other = Platform(Settings(database_url=database_url, key_store_path=str(tmp_path / "k2.json")),
                     clock=clock)
    try:
        limit(platform, login_user="4 per 15 minutes")
        limit(other, login_user="4 per 15 minutes")
        add_user(platform, admin_actor, "outlet-zhou")
        workers = [TestClient(create_app(platform)), TestClient(create_app(other))]
        answers = [log_in(workers[n % 2], "outlet-zhou", "wrong-password-1").status_code
                   for n in range(6)]
        assert answers == [401, 401, 401, 401, 429, 429]
        clock.advance(minutes=15)
        assert log_in(workers[1], "outlet-zhou").status_code == 200
    finally:
        other.engine.dispose()


def test_concurrent_hits_from_two_workers_never_pass_more_than_the_limit(platform, database_url,
                                                                         clock, tmp_path):
    other = Platform(Settings(database_url=database_url, key_store_path=str(tmp_path / "k2.json")),
                     clock=clock)
    try:
        throttles = [Throttle(p.engine, clock, {"login_user": "7 per 15 minutes"})
                     for p in (platform, other)]
        allowed, start = [], threading.Barrier(8)

        def guess(throttle: Throttle) -> None:
            start.wait()
            for _ in range(5):
                try:
                    throttle.hit("login_user", "outlet-wu")
                    allowed.append(1)
                except Exception as error:  # noqa: BLE001 - only the refusal is expected
                    assert getattr(error, "code", None) == "too_many_requests", error

        threads = [threading.Thread(target=guess, args=(throttles[n % 2],)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(allowed) == 7
        assert throttles[1].remaining("login_user", "outlet-wu") == 0
    finally:
        other.engine.dispose()


# --- the same work and answer for an unknown user as for a wrong password -----------------------


def test_unknown_user_and_wrong_password_answer_alike_in_body_and_time(platform, client,
                                                                       admin_actor):
    """Statistical, with generous bounds: the medians of 20 tries each are within a factor of
    two (without the dummy verify an unknown user answers tens of times faster)."""
    limit(platform, login_user="1000 per 15 minutes", login_address="1000 per 15 minutes")
    add_user(platform, admin_actor, "outlet-feng")
    log_in(client, "nobody-at-all", "warm-up")  # first use makes the dummy hash
    times: dict[str, list[float]] = {"unknown": [], "wrong": []}
    bodies = set()
    for n in range(20):
        for kind, username in (("unknown", f"nobody-{n}"), ("wrong", "outlet-feng")):
            started = time.perf_counter()
            response = log_in(client, username, f"wrong-password-{n}")
            times[kind].append(time.perf_counter() - started)
            assert response.status_code == 401
            bodies.add(str(response.json()))
    assert len(bodies) == 1 and "bad_credentials" in bodies.pop()
    ratio = statistics.median(times["unknown"]) / statistics.median(times["wrong"])
    assert 0.5 <= ratio <= 2, ratio


def test_an_inactive_login_answers_like_a_wrong_password(platform, client, admin_actor):
    from yikatong.auth.service import find_user

    add_user(platform, admin_actor, "outlet-gone")
    with platform.uow() as uow:
        find_user(uow=uow, username="outlet-gone").active = False
        uow.commit()
    gone, unknown = log_in(client, "outlet-gone"), log_in(client, "never-was")
    assert gone.status_code == unknown.status_code == 401
    assert gone.json() == unknown.json()


# --- sign-up, the public e-card check, terminals, holder calls ----------------------------------


def sign_up(client, n: int):
    return client.post("/api/v1/auth/holders", json=dict(
        name="王小明", id_number="320402199003070013", evidence="mismatch",
        username=f"holder-{n}", password="long-enough-pw"))


def test_holder_sign_up_is_throttled_per_address(platform, clock):
    limit(platform, holder_sign_up="3 per hour")
    signing, elsewhere = from_address(platform, "192.0.2.10"), from_address(platform, "192.0.2.11")
    for n in range(3):
        assert sign_up(signing, n).status_code == 422  # refused real-name check: still counted
    assert_refused(sign_up(signing, 3), "too_many_requests")
    assert sign_up(elsewhere, 4).status_code == 422
    clock.advance(hours=1)
    assert sign_up(signing, 5).status_code == 422


def test_the_public_ecard_check_page_and_its_json_twin_share_an_address_quota(platform, clock):
    limit(platform, ecard_check="3 per minute")
    visitor, other = from_address(platform, "192.0.2.30"), from_address(platform, "192.0.2.31")
    # The page's form as a browser sends it: with its CSRF token (pages.sessions).
    form = {"csrf_token": TOKEN_FIELD.search(visitor.get("/ecard/verify").text).group(1),
            "token": "not-a-code"}
    assert visitor.post("/ecard/verify", data=form).status_code == 200
    assert visitor.post("/api/v1/ecard/verify", json={"token": "not-a-code"}).status_code == 200
    assert visitor.post("/ecard/verify", data=form).status_code == 200
    assert_refused(visitor.post("/ecard/verify", data=form), "too_many_requests")
    assert_refused(visitor.post("/api/v1/ecard/verify", json={"token": "x"}), "too_many_requests")
    assert other.post("/ecard/verify", data={"token": "not-a-code"}).status_code == 200
    clock.advance(minutes=1)
    assert visitor.post("/ecard/verify", data=form).status_code == 200


def terminal_key(platform, admin_actor, username: str) -> dict[str, str]:
    add_user(platform, admin_actor, username, role=Role.TRANSIT_OPERATOR, branch_code="BUS-01")
    from yikatong.auth.service import find_user

    with platform.uow() as uow:
        key = create_api_key(uow=uow, user=find_user(uow=uow, username=username), label="gate",
                             actor=admin_actor)
        uow.commit()
    return {"X-API-Key": key}


def redeem(client, headers):
    return client.post("/api/v1/ecard/redeem", headers=headers,
                       json={"token": "not-a-code", "business": "transit"})


def test_a_terminal_has_a_quota_per_credential_and_spending_it_touches_nobody_else(
        platform, admin_actor):
    limit(platform, ecard_terminal="3 per minute", ecard_check="3 per minute")
    gate, next_gate = (terminal_key(platform, admin_actor, name) for name in ("gate-1", "gate-2"))
    station = from_address(platform, "192.0.2.50")  # every client below shares this address
    for _ in range(2):
        assert redeem(station, gate).status_code != 429
    assert station.post("/api/v1/ecard/verify", headers=gate, json={"token": "x"}).status_code == 200
    assert_refused(redeem(station, gate), "too_many_requests")
    assert_refused(station.post("/api/v1/ecard/verify", headers=gate, json={"token": "x"}),
                   "too_many_requests")
    # The gate over its quota leaves the next gate and anonymous checks on its address alone.
    assert redeem(station, next_gate).status_code != 429
    for _ in range(3):
        assert station.post("/api/v1/ecard/verify", json={"token": "x"}).status_code == 200
    # And anonymous clients that spent the address's quota never lock a gate out.
    assert_refused(station.post("/api/v1/ecard/verify", json={"token": "x"}), "too_many_requests")
    assert station.post("/api/v1/ecard/verify", headers=next_gate, json={"token": "x"}).status_code == 200


def test_a_check_counts_by_the_credential_exactly_when_the_credential_lookup_accepts_it(
        platform, admin_actor, clock):
    """The public check's credential and its hit (on PostgreSQL one statement whose upsert
    counts only a credential `in_force_with_role` accepts): counted under the terminal's rule
    exactly for a credential in force of a terminal role, otherwise by address, never both;
    revoked, expired, deactivated, of another role or unknown, on either database."""
    from sqlalchemy import update

    from yikatong.auth.models import AccessToken, User
    from yikatong.auth.service import _token_hash

    throttle = limit(platform, ecard_terminal="100 per minute", ecard_check="100 per minute")
    station = from_address(platform, "192.0.2.70")
    address = "192.0.2.70"

    def bearer(username: str, role: Role = Role.TRANSIT_OPERATOR) -> str:
        add_user(platform, admin_actor, username, role=role,
                 **({"branch_code": "BUS-01"} if role is Role.TRANSIT_OPERATOR else {}))
        answer = log_in(station, username)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def changed(secret: str, **values) -> None:
        with platform.engine.begin() as connection:
            if "active" in values:
                user_id = connection.execute(AccessToken.__table__.select().where(
                    AccessToken.token_hash == _token_hash(secret))).one().user_id
                connection.execute(update(User).where(User.id == user_id).values(**values))
            else:
                connection.execute(update(AccessToken).where(
                    AccessToken.token_hash == _token_hash(secret)).values(**values))

    key = terminal_key(platform, admin_actor, "gate-9")["X-API-Key"]
    valid, revoked, expired, inactive = (bearer(f"terminal-{n}") for n in range(4))
    changed(revoked, revoked_at=clock.now())
    changed(expired, expires_at=clock.now())  # expired at this very moment: no longer in force
    changed(inactive, active=False)
    cases = [(valid, True), (key, True), (revoked, False), (expired, False), (inactive, False),
             (bearer("a-holder", Role.HOLDER), False), (bearer("a-biller", Role.BILLER), False),
             ("made-up-token", False)]
    for secret, by_credential in cases:
        credential_left = throttle.remaining("ecard_terminal", "credential:" + secret)
        address_left = throttle.remaining("ecard_check", address)
        headers = ({"X-API-Key": secret} if secret.startswith("ykt_")
                   else {"Authorization": f"Bearer {secret}"})
        answer = station.post("/api/v1/ecard/verify", headers=headers, json={"token": "x"})
        assert answer.status_code == 200, answer.text
        assert throttle.remaining("ecard_terminal", "credential:" + secret) == (
            credential_left - 1 if by_credential else credential_left), secret
        assert throttle.remaining("ecard_check", address) == (
            address_left if by_credential else address_left - 1), secret


def test_an_unauthenticated_redeem_counts_nothing(platform):
    throttle = limit(platform, ecard_terminal="1 per minute")
    station = from_address(platform, "192.0.2.60")
    for _ in range(3):
        assert redeem(station, {"X-API-Key": "ykt_made-up"}).status_code == 401
    assert throttle.remaining("ecard_terminal", "credential:ykt_made-up") == 1


def test_holder_calls_are_counted_per_holder_login(platform, client, login):
    limit(platform, holder_calls="3 per minute")
    holder, other_holder = login(Role.HOLDER), login(Role.HOLDER)
    staff = login(Role.SS_OUTLET)
    for _ in range(3):
        assert client.get("/api/v1/auth/me", headers=holder).status_code == 200
    assert_refused(client.get("/api/v1/auth/me", headers=holder), "too_many_requests")
    assert client.get("/api/v1/auth/me", headers=other_holder).status_code == 200
    for _ in range(5):
        assert client.get("/api/v1/auth/me", headers=staff).status_code == 200


# --- limits as settings -----------------------------------------------------------------------


@pytest.mark.no_db
def test_limits_come_from_the_settings_over_the_documented_defaults(platform, database_url,
                                                                    clock, tmp_path):
    assert parse_limits("login_user = 5 per 15 minutes; ") == {"login_user": "5 per 15 minutes"}
    with pytest.raises(ValueError, match="unknown rule 'login'"):
        parse_limits("login=5 per minute")
    with pytest.raises(ValueError):
        parse_limits("login_user=five a day")
    with pytest.raises(ValueError, match="unknown rule"):  # the platform does not start
        Platform(Settings(database_url=database_url, key_store_path=str(tmp_path / "k4.json"),
                          throttle_limits="logins=5 per minute"), clock=clock)
    settings = Settings(database_url=database_url, key_store_path=str(tmp_path / "k3.json"),
                        throttle_limits="holder_calls=7 per second")
    configured = Platform(settings, clock=clock)
    try:
        items = configured.get(Throttle).items
        assert items["holder_calls"].amount == 7
        assert set(items) == set(DEFAULT_LIMITS)
    finally:
        configured.engine.dispose()


@pytest.mark.no_db
def test_the_throttle_can_be_off_in_development_only(database_url, clock, tmp_path):
    def platform_with(**fields) -> Platform:
        return Platform(Settings(database_url=database_url, key_store_path=str(tmp_path / "k.json"),
                                 throttle_enabled=False, **fields), clock=clock)

    development = platform_with()
    off = development.get(Throttle)
    for _ in range(20):
        off.hit("login_user", "anyone")  # never refused
    development.engine.dispose()
    with pytest.raises(ValueError, match="YKT_THROTTLE=off"):
        platform_with(environment="production")


def test_ended_windows_are_purged(platform, clock):
    from yikatong.auth.jobs import purge_ended_throttle_windows

    throttle = limit(platform, login_user="2 per minute")
    throttle.hit("login_user", "a")
    clock.advance(seconds=30)
    throttle.hit("login_user", "b")
    clock.advance(seconds=31)
    assert purge_ended_throttle_windows(platform) == 1
    assert throttle.remaining("login_user", "b") == 1
    assert throttle.remaining("login_user", "a") == 2
    clock.advance(timedelta(minutes=1))
    assert purge_ended_throttle_windows(platform) == 1


# --- counters are named by a keyed hash ---------------------------------------------------------


def test_counter_names_are_keyed_by_the_key_store_not_a_plain_hash(platform):
    """An address's counter cannot be found by hashing every IPv4 address: the name is an HMAC
    under a key derived from the key store's KEK, the same in every process of a deployment."""
    import hashlib

    from sqlalchemy import select

    from yikatong.auth.models import ThrottleCounter
    from yikatong.auth.throttle import DIGEST_KEY_LABEL, Throttle
    from yikatong.crypto.protocols import KeyStore

    address = "198.51.100.23"
    Throttle.for_platform(platform).hit("ecard_check", address)
    with platform.uow() as uow:
        names = " ".join(uow.session.execute(select(ThrottleCounter.key)).scalars())
    assert hashlib.sha256(address.encode()).hexdigest()[:32] not in names
    keyed = hmac_name(platform.get(KeyStore).derived_key(DIGEST_KEY_LABEL), address)
    assert keyed in names
    # another worker of the same deployment counts under the same name
    from yikatong.auth.throttle import DEFAULT_LIMITS

    allowed = int(DEFAULT_LIMITS["ecard_check"].split()[0])
    assert Throttle.for_platform(platform).remaining("ecard_check", address) == allowed - 1


def hmac_name(key: bytes, who: str) -> str:
    import hashlib
    import hmac

    return hmac.new(key, who.encode(), hashlib.sha256).hexdigest()[:32]


def test_a_holder_over_quota_is_refused_403_where_holders_may_not_call(platform, client, login):
    """A route closed to holders answers a holder 403, as the document says, also once the
    holder's quota is spent: it never answers the 429 it does not document (the contract sweep
    on the seeded population met that 429 on GET /clearing/disagreements)."""
    limit(platform, holder_calls="2 per minute")
    holder = login(Role.HOLDER)
    for _ in range(2):
        assert client.get("/api/v1/auth/me", headers=holder).status_code == 200
    assert_refused(client.get("/api/v1/auth/me", headers=holder), "too_many_requests")
    closed = client.get("/api/v1/clearing/disagreements", headers=holder)
    assert closed.status_code == 403, closed.text
    documented = client.app.openapi()["paths"]["/api/v1/clearing/disagreements"]["get"]["responses"]
    assert "403" in documented and "429" not in documented


def test_one_hit_on_postgresql_is_one_statement_without_begin_or_commit(platform, clock):
    """A door's single hit (the e-card check's, per request) is one autocommit upsert on
    PostgreSQL; a window that ended starts again; several hits still share one transaction."""
    from sqlalchemy import event

    if platform.engine.dialect.name != "postgresql":
        pytest.skip("the one-statement hit is PostgreSQL's")
    throttle = limit(platform, ecard_check="2 per minute", login_user="5 per minute",
                     login_address="5 per minute")
    seen: list[str] = []

    def statement(_conn, _cursor, sql, *_rest):
        seen.append(sql.split()[0].upper())

    def commit(_conn):
        seen.append("COMMIT")

    event.listen(platform.engine, "before_cursor_execute", statement)
    event.listen(platform.engine, "commit", commit)
    try:
        throttle.hit("ecard_check", "10.0.0.1")
        assert seen == ["INSERT"]
        throttle.hit("ecard_check", "10.0.0.1")
        with pytest.raises(Exception) as refused:
            throttle.hit("ecard_check", "10.0.0.1")
        assert refused.value.code == "too_many_requests"
        clock.advance(seconds=61)
        throttle.hit("ecard_check", "10.0.0.1")  # a new window
        assert throttle.remaining("ecard_check", "10.0.0.1") == 1
        seen.clear()
        throttle.hit_all(*[(rule, "u", type(refused.value))
                           for rule in ("login_user", "login_address")])
        assert seen.count("COMMIT") == 1 and seen.count("INSERT") == 2
    finally:
        event.remove(platform.engine, "before_cursor_execute", statement)
        event.remove(platform.engine, "commit", commit)


async def refused_on_the_loop_until_a_new_window(throttle, clock, address: str, connections) -> None:
    """`address` has spent its 3 ecard_checks a minute: 20 s on, a hit on the loop is refused
    with 40 s to wait; 41 s later a new window takes a hit (2 left)."""
    clock.advance(seconds=20)
    with pytest.raises(Exception) as refused:
        await throttle.hit_on_loop("ecard_check", address, connections)
    assert refused.value.code == "too_many_requests"
    assert refused.value.details["retry_after"] == 40
    clock.advance(seconds=41)
    await throttle.hit_on_loop("ecard_check", address, connections)  # a new window
    assert throttle.remaining("ecard_check", address) == 2


def test_a_hit_on_the_event_loop_counts_in_the_same_row_as_a_hit_on_a_thread(platform, clock):
    """On PostgreSQL a door's hit is one statement on the event loop's own connection
    (`hit_on_loop`): the same counter as `hit` (every worker counts against one limit), the
    same refusal with its Retry-After, a new window once it has ended."""
    import asyncio

    throttle = limit(platform, ecard_check="3 per minute")
    throttle.hit("ecard_check", "10.0.0.2")  # on a thread's connection (the engine's first)
    reads = platform.loop_reads()
    if reads is None:
        pytest.skip("the event loop's connections are PostgreSQL's")

    async def hits() -> None:
        for _ in range(2):  # the same row
            assert (await throttle.hit_on_loop("ecard_check", "10.0.0.2", reads)).key is not None
        assert throttle.remaining("ecard_check", "10.0.0.2") == 0
        assert throttle.remaining("ecard_check", "10.0.0.3") == 3  # another address: untouched
        await refused_on_the_loop_until_a_new_window(throttle, clock, "10.0.0.2", reads)

    try:
        asyncio.run(hits())
    finally:
        reads.close()


def test_a_hit_on_the_event_loop_without_connections_or_counting_says_so(platform):
    """No loop connections (SQLite): None, the caller hits on a thread; the throttle off:
    nothing is counted anywhere."""
    import asyncio

    throttle = limit(platform, ecard_check="3 per minute")
    assert asyncio.run(throttle.hit_on_loop("ecard_check", "10.0.0.4", None)) is None
    off = Throttle(platform.engine, platform.clock, enabled=False)
    assert asyncio.run(off.hit_on_loop("ecard_check", "10.0.0.4", None)).key is None
    assert throttle.remaining("ecard_check", "10.0.0.4") == 3


def test_a_redeem_counts_by_its_credential_exactly_when_the_access_check_lets_it_through(
        platform, admin_actor, login):
    """The redeem's per-credential hit (on PostgreSQL counted by the access check's own
    credential lookup, in its one statement): once per call that passes the access check,
    whatever comes of the code; nothing for a credential of a role the door refuses, a
    holder's, a channel the credential may not claim (403 each), or one not in force (401);
    past the limit a 429 with its Retry-After, on either database."""
    throttle = limit(platform, ecard_terminal="3 per minute")
    station = from_address(platform, "192.0.2.80")
    gate = terminal_key(platform, admin_actor, "gate-20")
    counter = login(Role.SS_OUTLET, branch_code="SS-TN-01")

    def left(headers) -> int:
        secret = headers.get("X-API-Key") or headers["Authorization"].split(" ", 1)[1]
        return throttle.remaining("ecard_terminal", "credential:" + secret)

    for headers, status in [(login(Role.BILLER), 403), (login(Role.HOLDER), 403),
                            ({**gate, "X-Ykt-Channel": "online_app"}, 403),
                            ({**gate, "X-Ykt-Channel": "no-such-channel"}, 403),
                            ({"Authorization": "Bearer made-up"}, 401)]:
        before = left({k: v for k, v in headers.items() if k != "X-Ykt-Channel"})
        answer = redeem(station, headers)
        assert answer.status_code == status, (headers, answer.text)
        assert left({k: v for k, v in headers.items() if k != "X-Ykt-Channel"}) == before
    for headers in (gate, counter):
        for spent in range(3):
            answer = redeem(station, headers)
            assert answer.status_code == 422, answer.text  # the code refused, the call counted
            assert left(headers) == 2 - spent
        assert_refused(redeem(station, headers), "too_many_requests")


def test_on_a_sqlite_file_a_hit_on_the_event_loop_counts_the_same_row_and_never_blocks(
        platform, clock):
    """On a SQLite file a hit on the event loop (`hit_on_loop` with Platform.sqlite_loop_writes)
    is the thread's upsert of the same row, committed on its own; while a thread of this
    process holds the write turn it waits on the loop without blocking it (other tasks run)
    and writes once the turn is given back; while another process holds SQLite's lock it
    writes nothing and says so (None): the caller hits on a thread."""
    import asyncio
    import sqlite3
    from unittest import mock

    from yikatong.db import sqlite_loop_writes

    writes = platform.sqlite_loop_writes()
    if writes is None:
        pytest.skip("the event loop's own writes are a SQLite file's")
    throttle = limit(platform, ecard_check="3 per minute")
    throttle.hit("ecard_check", "10.0.0.5")  # on a thread's connection
    turn = platform.engine.raw_connection().dbapi_connection.turn

    async def hits() -> None:
        assert (await throttle.hit_on_loop("ecard_check", "10.0.0.5", writes)).key is not None
        assert throttle.remaining("ecard_check", "10.0.0.5") == 1
        with turn, mock.patch.object(sqlite_loop_writes, "TURN_WAIT_SECONDS", 0.05):
            # not given back in time: nothing written, the caller takes the thread's way
            assert await throttle.hit_on_loop("ecard_check", "10.0.0.5", writes) is None
        assert throttle.remaining("ecard_check", "10.0.0.5") == 1
        with turn:  # a thread of this process in a write transaction
            waiting = asyncio.create_task(throttle.hit_on_loop("ecard_check", "10.0.0.5", writes))
            await asyncio.sleep(0.05)  # the loop runs on meanwhile
            assert not waiting.done()
            assert throttle.remaining("ecard_check", "10.0.0.5") == 1
        assert (await asyncio.wait_for(waiting, 5)).key is not None  # woken by the release
        assert throttle.remaining("ecard_check", "10.0.0.5") == 0
        other = sqlite3.connect(platform.engine.url.database, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process's writer
        try:
            assert await throttle.hit_on_loop("ecard_check", "10.0.0.5", writes) is None
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert throttle.remaining("ecard_check", "10.0.0.5") == 0  # nothing written meanwhile
        await refused_on_the_loop_until_a_new_window(throttle, clock, "10.0.0.5", writes)

    try:
        asyncio.run(hits())
    finally:
        writes.close()
