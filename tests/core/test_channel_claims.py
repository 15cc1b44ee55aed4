"""The channel a caller claims (X-Ykt-Channel) must be one its credential may claim: a bearer
token is a person at a desk or on a phone, an API key a machine. Walks the whole table
(auth.rules.CHANNELS_BY_CREDENTIAL) through the door with a real credential of each kind, and
checks the spec documents the header as the enum of channels with the table."""

from datetime import timedelta

import pytest

from yikatong.auth.rules import API_KEY_ROLES, CHANNELS_BY_CREDENTIAL
from yikatong.core.actor import Actor, Channel, Role

pytestmark = pytest.mark.db

ADMIN = Actor(user_id="setup", role=Role.ADMIN, channel=Channel.SYSTEM)
PEOPLE_ROLES = [role for role in Role if role is not Role.SYSTEM]
FIELDS = {Role.BANK: {"bank_code": "ICBC", "branch_code": "ICBC-CZ-001"},
          Role.SS_OUTLET: {"branch_code": "SS-TN-01"},
          Role.CITIZEN_OUTLET: {"branch_code": "SMK-DIRECT-01"}}


@pytest.fixture
def credentials(platform):
    """A bearer token for every role and an API key for every role that may hold one."""
    from yikatong.auth.service import _issue, create_api_key, create_user

    made: dict[tuple[str, Role], str] = {}
    with platform.uow() as uow:
        for role in PEOPLE_ROLES:
            fields = {"person_id": 1} if role is Role.HOLDER else FIELDS.get(role, {})
            user = create_user(uow=uow, actor=ADMIN, username=f"claims-{role}", password=None,
                               role=role, **fields)
            made["bearer", role] = _issue(uow, user, kind="bearer",
                                          expires_at=uow.now() + timedelta(hours=1))
            if role in API_KEY_ROLES:
                made["api_key", role] = create_api_key(uow=uow, user=user, label="claims", actor=ADMIN)
        uow.commit()
    return made


def headers(kind: str, secret: str, channel: Channel | None = None) -> dict:
    credential = {"Authorization": f"Bearer {secret}"} if kind == "bearer" else {"X-API-Key": secret}
    return {**credential, **({"X-Ykt-Channel": str(channel)} if channel else {})}


def test_every_credential_may_claim_exactly_its_channels(client, credentials):
    for (kind, role), secret in credentials.items():
        allowed = CHANNELS_BY_CREDENTIAL[kind][role]
        default = client.get("/api/v1/auth/me", headers=headers(kind, secret))
        assert default.status_code == 200, (kind, role, default.text)
        assert default.json()["channel"] == allowed[0], (kind, role)
        for channel in Channel:
            answer = client.get("/api/v1/auth/me", headers=headers(kind, secret, channel))
            if channel in allowed:
                assert answer.status_code == 200 and answer.json()["channel"] == channel, (kind, role, channel)
            else:
                assert answer.status_code == 403, (kind, role, channel, answer.text)
                problem = answer.json()
                assert problem["code"] == "channel_not_allowed"
                assert problem["details"]["allowed"] == [str(c) for c in allowed]
                assert problem["details"]["credential"] == kind


def test_a_bank_system_key_is_not_a_branch_and_a_kiosk_is_not_a_counter(client, credentials):
    """The holes the table closes: a bank's API key claiming a branch (where a formal loss is
    taken and unblocked) and a citizen-outlet machine claiming the staffed counter."""
    bank_key = headers("api_key", credentials["api_key", Role.BANK], Channel.BANK_BRANCH)
    assert client.get("/api/v1/auth/me", headers=bank_key).status_code == 403
    kiosk = headers("api_key", credentials["api_key", Role.CITIZEN_OUTLET], Channel.CITIZEN_OUTLET)
    assert client.get("/api/v1/auth/me", headers=kiosk).status_code == 403
    clerk = headers("bearer", credentials["bearer", Role.CITIZEN_OUTLET], Channel.SELF_SERVICE)
    assert client.get("/api/v1/auth/me", headers=clerk).status_code == 403


@pytest.mark.no_db
def test_holders_have_no_machine_channels():
    assert Role.HOLDER not in CHANNELS_BY_CREDENTIAL["api_key"]
    assert Role.HOLDER not in API_KEY_ROLES


@pytest.mark.no_db
def test_the_spec_documents_the_header_as_the_enum_of_channels_with_the_table(client):
    spec = client.get("/openapi.json").json()
    me = spec["paths"]["/api/v1/auth/me"]["get"]
    header = next(p for p in me["parameters"] if p["name"] == "X-Ykt-Channel")
    schema = header["schema"]
    options = schema.get("anyOf", [schema])
    enum_ref = next(o for o in options if "$ref" in o or "enum" in o)
    enum = (spec["components"]["schemas"][enum_ref["$ref"].rsplit("/", 1)[1]]["enum"]
            if "$ref" in enum_ref else enum_ref["enum"])
    assert set(enum) == {str(c) for c in Channel}
    assert "| bank | bank_branch | bank_branch | partner_api |" in header["description"]


def test_a_claimed_channel_with_braces_is_refused_not_a_crash(client, credentials):
    claim = headers("bearer", credentials["bearer", Role.SS_OUTLET])
    answer = client.get("/api/v1/auth/me", headers={**claim, "X-Ykt-Channel": "{0}{x}"})
    assert answer.status_code in (403, 422), answer.text
    if answer.status_code == 403:
        assert "{x}" in answer.json()["title_en"]
