"""The reference provider's own key file and its CLI (a development tool)."""

from __future__ import annotations

import stat

import httpx
from typer.testing import CliRunner

from yikatong.cli.main import app
from yikatong.realname import keys as provider_keys


def test_its_key_file_is_its_own_private_and_rotates_keeping_three(tmp_path):
    path = tmp_path / "realname" / "keys.json"
    first = provider_keys.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first.signing_key.as_dict(private=True)["d"]  # a private key, kept only here
    published = first.public_jwks()["keys"]
    assert all(set(key) == {"kty", "n", "e", "kid", "use", "alg"} for key in published)
    kids = [first.signing_key.kid] + [provider_keys.rotate(path) for _ in range(3)]
    assert len(set(kids)) == 4
    after = provider_keys.load(path)
    assert [key.kid for key in after.keys] == kids[-provider_keys.MAX_KEYS:]
    assert after.signing_key.kid == kids[-1]
    assert after.subject_salt == first.subject_salt  # subjects stay stable across rotations
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_running_provider_publishes_a_rotated_key_at_once(provider):
    before = {key["kid"] for key in httpx.get(f"{provider.issuer}/jwks").json()["keys"]}
    result = CliRunner().invoke(app, ["realname", "rotate-key", "--key-file", str(provider.key_path)])
    assert result.exit_code == 0, result.output
    after = {key["kid"] for key in httpx.get(f"{provider.issuer}/jwks").json()["keys"]}
    assert before < after and len(after - before) == 1
    assert (after - before).pop() in result.output


def test_the_discovery_document_names_this_issuer_and_pkce(provider):
    document = httpx.get(f"{provider.issuer}/.well-known/openid-configuration").json()
    assert document["issuer"] == provider.issuer
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["jwks_uri"] == f"{provider.issuer}/jwks"


def test_it_does_not_run_in_production(monkeypatch, tmp_path):
    monkeypatch.setenv("YKT_ENV", "production")
    result = CliRunner().invoke(app, ["realname", "serve", "--key-file", str(tmp_path / "k.json")],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 1 and "development" in result.output
    assert not (tmp_path / "k.json").exists()
