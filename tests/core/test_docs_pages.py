"""/docs and /redoc load every script, style and icon from the platform itself: no CDN, no
external host, so the API documentation works offline and where a CDN is blocked."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
# Anything that names another host: an absolute URL or a protocol-relative one.
EXTERNAL = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class AssetLinks(HTMLParser):
    """Every URL a page makes the browser load: script src, link href (style, icon), img src,
    and ReDoc's spec-url."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in ("src", "href", "spec-url"):
            if attributes.get(name):
                self.urls.append(attributes[name])


def links(page: str) -> list[str]:
    parser = AssetLinks()
    parser.feed(page)
    return parser.urls


def assert_local_page(client, path: str, *, root: str = "") -> list[str]:
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert not EXTERNAL.search(page), EXTERNAL.search(page).group(0)
    urls = links(page)
    assert urls, "the page loads nothing?"
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url
        assert parts.path.startswith(root + "/"), url
    return urls


def assert_served(client, url: str) -> bytes:
    """The browser asks for the URL as the page wrote it."""
    response = client.get(url)
    assert response.status_code == 200, url
    assert response.content, url
    suffix = url[url.rfind("."):]
    if suffix in EXPECTED_TYPES:
        assert EXPECTED_TYPES[suffix] in response.headers["content-type"], url
    return response.content


def test_swagger_ui_loads_only_the_platforms_own_assets(client):
    urls = assert_local_page(client, "/docs")
    bodies = {url: assert_served(client, url) for url in urls}
    scripts = [body for url, body in bodies.items() if url.endswith(".js")]
    styles = [url for url in urls if url.endswith(".css")]
    assert any(b"SwaggerUIBundle" in body for body in scripts) and styles
    page = client.get("/docs").text
    # The OpenAPI document and the OAuth2 redirect page the inline script names are ours too.
    assert "url: '/openapi.json'" in page and client.get("/openapi.json").status_code == 200
    assert "'/docs/oauth2-redirect'" in page
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert '"validatorUrl": null' in page  # no spec sent to an online validator


def test_redoc_loads_only_the_platforms_own_assets(client):
    urls = assert_local_page(client, "/redoc")
    assert "/openapi.json" in urls  # ReDoc's spec-url
    bodies = {url: assert_served(client, url) for url in urls}
    assert any(b"Redoc" in body for url, body in bodies.items() if url.endswith(".js"))
    assert "fonts.googleapis" not in client.get("/redoc").text


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_behind_a_proxy_prefix_the_assets_carry_it(platform, path):
    from fastapi.testclient import TestClient

    from yikatong.api.app import create_app

    with TestClient(create_app(platform), root_path="/ykt") as client:
        urls = assert_local_page(client, path, root="/ykt")
        for url in urls:
            assert_served(client, url)


def test_no_asset_outside_the_docs_folder_is_served(client):
    assert client.get("/docs/assets/../../pyproject.toml").status_code == 404
    assert client.get("/docs/assets/no-such-file.js").status_code == 404
