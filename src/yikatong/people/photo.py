"""The photo check of seed 四.4: every rule evaluated, every result reported at once.

Rules (errors unless marked): JPEG; 358 × 441 px; 350 dpi; 24-bit colour (RGB, 3 channels of
8 bits); plain white background; file size 15–100 KB is only a warning because the seed says
"一般" (generally).

White background: the border band is BORDER_BAND_PX (8) pixels wide along the top edge and
along the left and right edges over the upper BORDER_SIDE_FRACTION (60 %) of the height. The
lower part of the sides and the bottom edge are left out on purpose: in a head-and-shoulders
portrait the shoulders reach them. A band pixel is white when every channel is ≥ 235; at most
2 % of band pixels may be otherwise (JPEG ringing, stray hair).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

WIDTH, HEIGHT, DPI = 358, 441, 350
MIN_BYTES, MAX_BYTES = 15 * 1024, 100 * 1024
HARD_MAX_BYTES = 2 * 1024 * 1024   # anything larger is not a portrait: refuse before decoding
WHITE_LEVEL = 235
MAX_OUTLIER_SHARE = 0.02
BORDER_BAND_PX = 8
BORDER_SIDE_FRACTION = 0.6

RULES: dict[str, tuple[str, str]] = {
    "photo_not_jpeg": ("照片须为 JPG 格式", "the photo must be a JPEG file"),
    "photo_wrong_dimensions": ("照片尺寸须为 358×441 像素（宽×高）",
                               "the photo must be 358 × 441 pixels (width × height)"),
    "photo_wrong_resolution": ("照片分辨率须为 350 dpi", "the photo must be 350 dpi"),
    "photo_not_24bit_colour": ("照片须为 24 位真彩色", "the photo must be 24-bit true colour"),
    "photo_background_not_white": ("照片背景须为纯白色", "the background must be plain white"),
    "photo_file_too_large": ("照片文件超过 2 MB", "the photo file is larger than 2 MB"),
    "photo_file_size_unusual": ("照片文件大小一般应在 15～100 KB 之间",
                                "the photo file is usually 15–100 KB"),
}
WARNING_RULES = {"photo_file_size_unusual"}


@dataclass(frozen=True)
class RuleResult:
    code: str
    passed: bool
    severity: str          # "error" | "warning"
    measured: str          # what was found, for the operator
    zh: str
    en: str


@dataclass(frozen=True)
class PhotoReport:
    results: list[RuleResult] = field(default_factory=list)

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed and r.severity == "error"]

    @property
    def warnings(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed and r.severity == "warning"]

    @property
    def accepted(self) -> bool:
        return not self.failures


def _result(code: str, passed: bool, measured: str) -> RuleResult:
    zh, en = RULES[code]
    severity = "warning" if code in WARNING_RULES else "error"
    return RuleResult(code=code, passed=passed, severity=severity, measured=measured, zh=zh, en=en)


def check_photo(data: bytes) -> PhotoReport:
    """Evaluate every rule on the file's bytes; an unreadable image fails all image rules."""
    size = len(data)
    size_rule = _result("photo_file_size_unusual", MIN_BYTES <= size <= MAX_BYTES,
                        f"{size / 1024:.1f} KB")
    if size > HARD_MAX_BYTES:
        return PhotoReport([_result("photo_file_too_large", False, f"{size} bytes"), size_rule])
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        unreadable = [_result(code, False, "unreadable image") for code in
                      ("photo_not_jpeg", "photo_wrong_dimensions", "photo_wrong_resolution",
                       "photo_not_24bit_colour", "photo_background_not_white")]
        return PhotoReport([*unreadable, size_rule])
    return PhotoReport([
        _result("photo_not_jpeg", image.format == "JPEG", str(image.format)),
        _result("photo_wrong_dimensions", image.size == (WIDTH, HEIGHT),
                f"{image.size[0]}×{image.size[1]}"),
        _dpi_result(image),
        _result("photo_not_24bit_colour", image.mode == "RGB", f"mode {image.mode}"),
        _background_result(image),
        size_rule,
    ])


def _dpi_result(image: Image.Image) -> RuleResult:
    dpi = image.info.get("dpi")
    if not dpi:
        return _result("photo_wrong_resolution", False, "no resolution recorded")
    # JFIF stores whole numbers; Pillow may hand back 349.99… after a unit conversion.
    x, y = (round(float(value)) for value in dpi)
    return _result("photo_wrong_resolution", x == DPI and y == DPI, f"{x}×{y} dpi")


def border_band(pixels: np.ndarray) -> np.ndarray:
    """The band's pixels as an (n, channels) array (see the module docstring)."""
    height, width = pixels.shape[:2]
    band = min(BORDER_BAND_PX, height, width)
    side_depth = max(band, int(height * BORDER_SIDE_FRACTION))
    channels = pixels.shape[2]
    parts = [
        pixels[:band, :, :].reshape(-1, channels),
        pixels[band:side_depth, :band, :].reshape(-1, channels),
        pixels[band:side_depth, width - band:, :].reshape(-1, channels),
    ]
    return np.concatenate(parts)


def _background_result(image: Image.Image) -> RuleResult:
    # Judged on the RGB rendering so a grey or CMYK file still gets a background verdict.
    pixels = np.asarray(image.convert("RGB"))
    band = border_band(pixels)
    outliers = int(np.count_nonzero((band < WHITE_LEVEL).any(axis=1)))
    share = outliers / len(band) if len(band) else 1.0
    return _result("photo_background_not_white", share <= MAX_OUTLIER_SHARE,
                   f"{share:.1%} of border pixels not white")
