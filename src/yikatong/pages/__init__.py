"""The pages people use in a browser: the foundation every domain's `web.py` builds on.

* `rendering.render(request, "domain/page.html", {...})`: one layout, one way to write a page;
* `i18n`: Chinese first, English by the reader's choice, every string in gettext catalogues;
* `formatting`: money, dates and times the Changzhou way;
* `sessions`: the browser's session cookie and CSRF protection;
* `navigation`: each role's menu and first page;
* `errors`: refusals as pages.

docs/pages.md says how to add a page.
"""
