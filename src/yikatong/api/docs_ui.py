"""The API documentation pages, /docs (Swagger UI) and /redoc (ReDoc), with every script,
style and icon served by the platform itself rather than a CDN, so they work offline and
where a CDN is slow or blocked (as in mainland China).

The assets come from the pinned `fastapi-offline` package, which ships Swagger UI's bundle and
stylesheet, ReDoc's standalone bundle and a favicon; the pages are FastAPI's own
(`get_swagger_ui_html`, `get_redoc_html`) pointed at them. The app is created with
`docs_url=None, redoc_url=None` so FastAPI does not add its CDN pages as well.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
ASSETS_URL = "/docs/assets"
ASSETS_DIR = files("fastapi_offline") / "static"
# No online validator: Swagger UI would send the OpenAPI document to validator.swagger.io.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def mount_docs(app: FastAPI) -> None:
    """Add /docs, its OAuth2 redirect page, /redoc and the assets they load to `app`."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS_DIR)), name="docs-assets")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_swagger_ui_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title} · API",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            oauth2_redirect_url=root + oauth2_redirect_url if oauth2_redirect_url else None,
            swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
        )

    if oauth2_redirect_url:
        @app.get(oauth2_redirect_url, include_in_schema=False)
        def swagger_ui_oauth2_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        root = _root(request)
        return get_redoc_html(
            openapi_url=root + app.openapi_url,
            title=f"{app.title} · ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,  # the system fonts; Google Fonts is a CDN too
        )


def _root(request: Request) -> str:
    """The prefix a proxy mounts the platform under (ASGI root_path), '' at the site root."""
    return request.scope.get("root_path", "").rstrip("/")
