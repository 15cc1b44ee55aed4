"""Refusals as a browser sees them: a page in the reader's language, never a JSON problem.

The application's error handlers (api.app) ask `wants_page` first: a request for a page path
from a browser (it accepts text/html) gets the error page with the same status, machine code
and message as the API's problem; a page that needs a sign-in sends the browser to /signin
and back. Programs calling a page path without asking for HTML keep the problem+json answer.
A form's own refusals are shown on the form itself by its route (`form_error`).
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from yikatong.core.errors import DomainError
from yikatong.pages.sessions import SIGN_IN_PATH, is_page_path


def wants_page(request: Request) -> bool:
    return is_page_path(request.url.path) and "text/html" in request.headers.get("accept", "")


def page_error(request: Request, error: DomainError) -> Response:
    from yikatong.pages.rendering import render

    if error.http_status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"{SIGN_IN_PATH}?next={quote(target, safe='')}", status_code=303)
    return render(request, "pages/error.html", {"error": error}, status_code=error.http_status,
                  headers=error.http_headers())
