"""Synthetic people and photos for demos and tests. Every person here is invented."""

from __future__ import annotations

import io
import random
from datetime import date, timedelta
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from yikatong.people import photo as photo_rules
from yikatong.people.rules import mod11_2_check_char

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
            "蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江"
            "尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国志文斌宁晨阳雪梅婷琳欣怡浩然子轩若曦思远嘉怡宇航梓涵一诺雨桐俊杰博文诗涵晓东春燕海燕"


def make_name(rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    return rng.choice(SURNAMES) + given


def _sequence(seq: int | None, gender: str, rng: random.Random) -> str:
    if seq is None:
        seq = rng.randrange(0, 500) * 2 + (1 if gender == "M" else 0)
    if not 0 <= seq <= 999:
        raise ValueError("seq must be 0–999")
    if (seq % 2 == 1) != (gender == "M"):
        raise ValueError("the sequence's last digit is odd for men and even for women")
    return f"{seq:03d}"


def make_citizen_ssn(region: str = "320402", birth: date = date(1990, 3, 7), gender: str = "M",
                     seq: int | None = None, rng: random.Random | None = None) -> str:
    """A valid 18-digit citizen number (GB 11643); also for permits with region 810000 etc."""
    body = f"{region}{birth:%Y%m%d}{_sequence(seq, gender, rng or random.Random())}"
    return body + mod11_2_check_char(body)


def make_foreign_pr_2023(birth: date = date(1990, 1, 1), gender: str = "M",
                         province: str = "32", nationality_code: str = "840",
                         seq: int | None = None, rng: random.Random | None = None) -> str:
    """A format-valid 2023 foreign permanent-residence number (starts with 9, MOD 11-2)."""
    sequence = _sequence(seq, gender, rng or random.Random())
    body = f"9{province}{nationality_code}{birth:%Y%m%d}{sequence}"
    return body + mod11_2_check_char(body)


def make_applicant(rng: random.Random | None = None, *, as_of: date = date(2026, 3, 2),
                   min_age: int = 18, max_age: int = 70, region: str = "320402",
                   with_photo: bool = True) -> dict[str, Any]:
    """Keyword arguments for people.service.register_applicant (minus uow/actor/as_of)."""
    rng = rng or random.Random()
    gender = rng.choice("MF")
    birth = as_of - timedelta(days=rng.randint(min_age * 366, max_age * 365))
    return {
        "name": make_name(rng), "document_type": "resident_id_card",
        "document_number": make_citizen_ssn(region, birth, gender, rng=rng), "gender": gender,
        "birth_date": birth, "nationality": "CHN",
        "phone": f"139{rng.randrange(10**8):08d}", "address": "江苏省常州市天宁区示例路 1 号",
        "document_valid_until": as_of + timedelta(days=3650),
        "photo_jpeg": make_sample_photo(seed=rng.randrange(1000)) if with_photo else None,
    }


def make_sample_photo(
    *, width: int = photo_rules.WIDTH, height: int = photo_rules.HEIGHT,
    dpi: int | None = photo_rules.DPI, mode: str = "RGB", format: str = "JPEG",
    background: tuple[int, int, int] = (255, 255, 255), quality: int = 92,
    texture: bool = True, pad_bytes: int = 0, seed: int = 7,
) -> bytes:
    """A synthetic head-and-shoulders portrait; the defaults pass every rule of seed 四.4.

    Override one argument to break one rule: `dpi=72`, `width=300`, `mode="L"`,
    `format="PNG"`, `background=(200, 220, 255)`; `texture=False` makes a flat file under
    15 KB and `pad_bytes=120_000` one over 100 KB (size warnings only).
    """
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    cx = width // 2
    shoulders = (int(width * 0.06), int(height * 0.74), int(width * 0.94), height + height // 3)
    draw.ellipse(shoulders, fill=(40, 60, 110))
    draw.rectangle((cx - width // 12, int(height * 0.56), cx + width // 12, int(height * 0.76)),
                   fill=(225, 185, 160))
    draw.ellipse((cx - width // 5, int(height * 0.18), cx + width // 5, int(height * 0.64)),
                 fill=(230, 190, 165))
    draw.chord((cx - width // 5, int(height * 0.15), cx + width // 5, int(height * 0.42)),
               180, 360, fill=(30, 25, 20))
    for eye in (-1, 1):
        x = cx + eye * width // 12
        draw.ellipse((x - 6, int(height * 0.38) - 4, x + 6, int(height * 0.38) + 4),
                     fill=(40, 30, 30))
    draw.arc((cx - 25, int(height * 0.46), cx + 25, int(height * 0.54)), 20, 160,
             fill=(150, 60, 60), width=3)
    if texture:
        image = _add_texture(image, background, seed)
    if mode != "RGB":
        image = image.convert(mode)
    out = io.BytesIO()
    options: dict[str, Any] = {}
    if dpi is not None:
        options["dpi"] = (dpi, dpi)
    if format == "JPEG":
        options["quality"] = quality
    image.save(out, format=format, **options)
    # Bytes after the end-of-image marker: decoders ignore them, the file just grows.
    return out.getvalue() + bytes(pad_bytes)


def _add_texture(image: Image.Image, background: tuple[int, int, int], seed: int) -> Image.Image:
    """Noise on the figure only (a real photo's detail), so the file has a realistic size
    while the background stays plain."""
    pixels = np.asarray(image).astype(np.int16)
    figure = (pixels != np.array(background, dtype=np.int16)).any(axis=2)
    noise = np.random.default_rng(seed).integers(-18, 19, size=pixels.shape, dtype=np.int16)
    pixels[figure] += noise[figure]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
