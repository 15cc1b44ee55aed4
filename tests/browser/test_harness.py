"""The harness's own checks are not vacuous: axe-core fails a page with a critical problem."""

from __future__ import annotations

import pytest

from tests.browser.harness import assert_accessible

UNLABELLED_FORM = """<!doctype html><html lang="zh-CN"><head><title>表单 Form</title></head>
<body><main><h1>表单 Form</h1><form><input type="text" name="code"></form></main></body></html>"""


def test_assert_accessible_fails_on_a_field_without_a_label(page):
    page.set_content(UNLABELLED_FORM)

    with pytest.raises(AssertionError, match=r"(?s)label - .*Impact Level: critical"):
        assert_accessible(page)
