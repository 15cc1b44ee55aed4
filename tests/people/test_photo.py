"""The photo check of seed 四.4: each rule alone, all at once, size warnings, border band."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from yikatong.people import photo
from yikatong.people.photo import check_photo
from yikatong.people.samples import make_sample_photo

IMAGE_RULES = {"photo_not_jpeg", "photo_wrong_dimensions", "photo_wrong_resolution",
               "photo_not_24bit_colour", "photo_background_not_white"}


def codes(results) -> set[str]:
    return {r.code for r in results}


def test_the_sample_photo_passes_every_rule():
    report = check_photo(make_sample_photo())
    assert report.accepted and not report.warnings
    assert codes(report.results) == IMAGE_RULES | {"photo_file_size_unusual"}
    assert all(r.passed for r in report.results)


BROKEN = [
    (dict(format="PNG", pad_bytes=0), "photo_not_jpeg"),
    (dict(width=300), "photo_wrong_dimensions"),
    (dict(height=400), "photo_wrong_dimensions"),
    (dict(dpi=72), "photo_wrong_resolution"),
    (dict(dpi=None), "photo_wrong_resolution"),
    (dict(mode="L"), "photo_not_24bit_colour"),
    (dict(mode="CMYK"), "photo_not_24bit_colour"),
    (dict(background=(205, 225, 250)), "photo_background_not_white"),
    (dict(background=(234, 255, 255)), "photo_background_not_white"),  # just under 235
]


@pytest.mark.parametrize(("override", "code"), BROKEN)
def test_each_rule_broken_alone_fails_alone(override, code):
    report = check_photo(make_sample_photo(**override))
    assert codes(report.failures) == {code}
    assert not report.accepted


def test_every_broken_rule_is_reported_at_once():
    data = make_sample_photo(format="PNG", width=300, dpi=72, mode="L", background=(190,) * 3)
    report = check_photo(data)
    assert codes(report.failures) == IMAGE_RULES
    assert all(r.zh and r.en and r.measured for r in report.failures)


@pytest.mark.parametrize("override", [dict(texture=False), dict(pad_bytes=120_000)])
def test_file_size_outside_15_to_100_kb_is_only_a_warning(override):
    data = make_sample_photo(**override)
    assert not photo.MIN_BYTES <= len(data) <= photo.MAX_BYTES
    report = check_photo(data)
    assert report.accepted and codes(report.warnings) == {"photo_file_size_unusual"}


def test_unreadable_bytes_fail_every_image_rule():
    report = check_photo(b"not an image at all")
    assert codes(report.failures) == IMAGE_RULES


def test_huge_file_is_refused_before_decoding():
    report = check_photo(b"\xff\xd8" + bytes(photo.HARD_MAX_BYTES))
    assert "photo_file_too_large" in codes(report.failures)


def _portrait_with(draw_on) -> bytes:
    image = Image.open(io.BytesIO(make_sample_photo())).convert("RGB")
    draw_on(ImageDraw.Draw(image))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95, dpi=(350, 350))
    return out.getvalue()


def _band_pixels() -> int:
    depth = int(photo.HEIGHT * photo.BORDER_SIDE_FRACTION)
    band = photo.BORDER_BAND_PX
    return band * photo.WIDTH + 2 * band * (depth - band)


@pytest.mark.parametrize(("share", "accepted"), [(0.01, True), (0.05, False)])
def test_border_outliers_up_to_two_percent_are_tolerated(share, accepted):
    columns = round(share * _band_pixels() / photo.BORDER_BAND_PX)
    data = _portrait_with(lambda d: d.rectangle((40, 0, 40 + columns - 1, 7), fill=(0, 0, 0)))
    result = {r.code: r for r in check_photo(data).results}["photo_background_not_white"]
    assert result.passed is accepted, result.measured


def test_shoulders_reaching_the_lower_edges_are_not_background():
    lower = int(photo.HEIGHT * photo.BORDER_SIDE_FRACTION) + 1
    data = _portrait_with(lambda d: d.rectangle((0, lower, photo.WIDTH, photo.HEIGHT),
                                                fill=(30, 40, 90)))
    assert check_photo(data).accepted
