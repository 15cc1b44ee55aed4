"""The public e-card check (/ecard/verify) in a real browser: a labelled form worked from the
keyboard alone, a forged code refused in Chinese and English, no serious accessibility problem."""

from __future__ import annotations

import re

from tests.browser.harness import assert_accessible, expect, screenshot

FORGED_CODE = "YKT1.this-code-was-never-signed"
# The page is in the reader's language (the layout's switch); each test runs in zh and en.
CODE_LABEL = re.compile("^(二维码内容|QR code content)$")
VERIFY = re.compile("^(验证|Verify)$")


def _service_verdict(live_server, token: str):
    """What the e-card service itself says of `token`: the page must show exactly that."""
    from yikatong.crypto.protocols import KeyStore
    from yikatong.ecard import service

    platform = live_server.platform
    with platform.uow(read_only=True) as uow:
        return service.verify_token(uow=uow, token=token, keys=platform.get(KeyStore))


def test_the_empty_form_is_labelled_and_accessible(page):
    page.goto("/ecard/verify")

    expect(page).to_have_title(re.compile("电子社保卡验证|E-card verification"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        re.compile("电子社保卡二维码验证|E-card QR code verification"))
    code = page.get_by_label(CODE_LABEL)  # the <label> names the field
    expect(code).to_be_editable()
    expect(code).to_have_attribute("required", "")
    expect(page.get_by_role("button", name=VERIFY)).to_be_enabled()
    assert_accessible(page)
    screenshot(page, "ecard-check")


def test_a_forged_code_typed_from_the_keyboard_is_refused_in_both_languages(page, live_server):
    verdict = _service_verdict(live_server, FORGED_CODE)
    assert not verdict.genuine and not verdict.valid  # the premise: the service refuses it
    page.goto("/ecard/verify")
    chinese = page.evaluate("document.documentElement.lang") == "zh-CN"

    page.keyboard.press("Tab")  # the layout's first stop skips the header to the content
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # the code field is the content's first stop
    expect(page.get_by_label(CODE_LABEL)).to_be_focused()
    page.keyboard.type(FORGED_CODE)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name=VERIFY)).to_be_focused()
    page.keyboard.press("Enter")

    refusal = page.locator("section.verdict")
    expect(refusal.get_by_role("heading", level=2)).to_have_text(
        "✗ 无效（可能是伪造的）" if chinese else "✗ Not valid (possibly forged)")
    expect(refusal).to_contain_text(verdict.reason_zh if chinese else verdict.reason_en)
    expect(refusal.locator("dl")).to_have_count(0)  # nothing about a person for a forged code
    expect(page.get_by_label(CODE_LABEL)).to_have_value(FORGED_CODE)
    assert_accessible(page)
    screenshot(page, "ecard-check-refused")
