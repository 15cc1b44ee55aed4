"""A PNG proof of both sides of the card, for an outlet to show the holder (seed 一).

Side A: the national emblem's area (marked, not drawn: the emblem's artwork is not ours to
reproduce), 中华人民共和国社会保障卡, the chip with the contactless mark, the one-card and
T-Union marks, and the line naming the ministry that supervises the card.
Side B, top to bottom and left to right: partner bank logo and name, the 江苏社会保障卡一卡通
mark, the UnionPay mark, photo, name, social security number, person code, issue date, the
issuing seal, the bank account number, 12333 and the bank's hotline.
Each side is drawn at 300 dpi on an ID-1 card (85.60 × 53.98 mm); the proof shows A beside B.
"""

from __future__ import annotations

import glob
import hashlib
import io
import logging
import os
import shutil
import subprocess
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from yikatong.applications.production import FaceProof

log = logging.getLogger(__name__)

CARD_SIZE = (1011, 638)  # ID-1 at 300 dpi
SIDE_GAP = 40  # between side A and side B on the proof
PHOTO_BOX = (40, 150, 40 + 200, 150 + 246)
INK = (25, 25, 35)
SEAL_RED = (200, 30, 40)
_FONT_GLOBS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/**/NotoSansCJK*.tt[cf]",
    "/usr/share/fonts/**/wqy-microhei.ttc",
    "/usr/share/fonts/**/wqy-zenhei.ttc",
    "/usr/share/fonts/**/*CJK*.tt[cf]",
)


@cache
def find_cjk_font() -> tuple[str, int] | None:
    """A font file with Chinese glyphs and the index of its Simplified Chinese face.

    YKT_CJK_FONT overrides; otherwise fontconfig is asked, then the usual Debian paths
    (fonts-noto-cjk, fonts-wqy-microhei)."""
    override = os.environ.get("YKT_CJK_FONT")
    candidates = [override] if override else []
    if shutil.which("fc-match"):
        found = subprocess.run(["fc-match", "-f", "%{file}", ":lang=zh-cn"],
                               capture_output=True, text=True, check=False).stdout.strip()
        if found:
            candidates.append(found)
    for pattern in _FONT_GLOBS:
        candidates.extend(sorted(glob.glob(pattern, recursive=True)))
    for path in candidates:
        if path and os.path.exists(path) and _has_cjk(path):
            return path, _sc_index(path)
    return None


def _sc_index(path: str) -> int:
    """Noto CJK collections hold JP, KR, SC, TC, HK faces; pick the SC one."""
    if not path.endswith(".ttc"):
        return 0
    for index in range(8):
        try:
            name = ImageFont.truetype(path, 12, index=index).getname()[0]
        except OSError:
            break
        if name.endswith(" SC"):
            return index
    return 0


def _has_cjk(path: str) -> bool:
    """Whether the font draws Chinese: a font without the glyphs draws the same box (tofu)
    for every character, and fontconfig offers such a font (DejaVu) when nothing better is
    installed."""
    try:
        font = ImageFont.truetype(path, 24, index=_sc_index(path))
    except OSError:
        return False
    card, mouth = font.getmask("卡"), font.getmask("口")
    return card.getbbox() is not None and bytes(card) != bytes(mouth)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    found = find_cjk_font()
    if found is None:
        log.warning("no CJK font found (install fonts-noto-cjk or set YKT_CJK_FONT): the card "
                    "face proof shows placeholder boxes for Chinese text")
        return ImageFont.load_default(size)
    path, index = found
    return ImageFont.truetype(path, size, index=index)


def _bank_colour(bank_code: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(bank_code.encode()).digest()
    return (60 + digest[0] % 150, 40 + digest[1] % 120, 60 + digest[2] % 150)


def _grouped(number: str, size: int = 4) -> str:
    return " ".join(number[i:i + size] for i in range(0, len(number), size))


def render_proof(proof: FaceProof) -> bytes:
    """Side A beside side B, as PNG bytes."""
    sheet = Image.new("RGB", (2 * CARD_SIZE[0] + SIDE_GAP, CARD_SIZE[1]), "white")
    sheet.paste(_side_a(), (0, 0))
    sheet.paste(_side_b(proof), (CARD_SIZE[0] + SIDE_GAP, 0))
    return _png(sheet)


def render_side_a() -> bytes:
    return _png(_side_a())


def render_side_b(proof: FaceProof) -> bytes:
    return _png(_side_b(proof))


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(300, 300))
    return out.getvalue()


def _blank_card() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    card = Image.new("RGB", CARD_SIZE, (244, 248, 252))
    draw = ImageDraw.Draw(card)
    draw.rounded_rectangle((0, 0, CARD_SIZE[0] - 1, CARD_SIZE[1] - 1), radius=36,
                           outline=(180, 190, 205), width=3)
    return card, draw


def _side_a() -> Image.Image:
    """The same for every card: nothing personal is printed on side A."""
    card, draw = _blank_card()
    draw.ellipse((50, 40, 190, 180), outline=SEAL_RED, width=4)          # the emblem's area
    draw.text((120, 110), "国徽", font=_font(30), fill=SEAL_RED, anchor="mm")
    draw.text((230, 78), "中华人民共和国社会保障卡", font=_font(58), fill=SEAL_RED)
    _chip(draw, (120, 260))
    draw.rounded_rectangle((560, 260, 940, 330), radius=12, fill=(0, 110, 170))
    draw.text((750, 295), "江苏（常州）一卡通", font=_font(30), fill="white", anchor="mm")
    draw.rounded_rectangle((700, 360, 940, 420), radius=12, outline=(0, 110, 170), width=3)
    draw.text((820, 390), "交通联合", font=_font(28), fill=(0, 110, 170), anchor="mm")
    draw.text((CARD_SIZE[0] // 2, 560), "中华人民共和国人力资源和社会保障部监制",
              font=_font(28), fill=INK, anchor="mm")
    return card


def _side_b(proof: FaceProof) -> Image.Image:
    face = proof.face
    card, draw = _blank_card()
    _header(draw, face)
    _photo(card, face.photo_jpeg)
    _fields(draw, face)
    _seal(draw, (690, 360), face.issuing_seal)
    draw.text((250, 470), _grouped(proof.pan), font=_font(44), fill=INK)
    draw.text((40, 560), f"人力资源和社会保障服务电话 {face.hr_hotline}", font=_font(26), fill=INK)
    draw.text((560, 560), f"{face.bank_name.removesuffix('常州分行')}客服电话 {face.bank_hotline}",
              font=_font(26), fill=INK)
    draw.text((40, 605), f"卡号 {proof.card_no}", font=_font(18), fill=(110, 110, 120))
    return card


def _header(draw: ImageDraw.ImageDraw, face) -> None:
    colour = _bank_colour(face.bank_code)
    draw.ellipse((40, 30, 110, 100), fill=colour)                      # bank logo placeholder
    draw.text((75, 65), face.bank_code[:2], font=_font(28), fill="white", anchor="mm")
    draw.text((125, 42), face.bank_name, font=_font(36), fill=colour)
    draw.rounded_rectangle((560, 36, 820, 96), radius=12, fill=(0, 110, 170))
    draw.text((690, 66), "江苏社会保障卡一卡通", font=_font(24), fill="white", anchor="mm")
    for i, shade in enumerate(((220, 30, 40), (0, 70, 150), (0, 140, 120))):  # UnionPay mark
        draw.polygon([(840 + i * 40, 30), (890 + i * 40, 30), (870 + i * 40, 110),
                      (820 + i * 40, 110)], fill=shade)
    draw.text((905, 70), "银联\nUnionPay", font=_font(18), fill="white", anchor="mm",
              align="center")


def _photo(card: Image.Image, jpeg: bytes | None) -> None:
    box = PHOTO_BOX
    size = (box[2] - box[0], box[3] - box[1])
    if jpeg:
        photo = Image.open(io.BytesIO(jpeg)).convert("RGB").resize(size)
        card.paste(photo, box[:2])
    else:  # under 7: no photo needed (四.4)
        ImageDraw.Draw(card).rectangle(box, outline=(160, 160, 160), width=2)
        ImageDraw.Draw(card).text(((box[0] + box[2]) // 2, (box[1] + box[3]) // 2), "无照片",
                                  font=_font(24), fill=(140, 140, 140), anchor="mm")


def _fields(draw: ImageDraw.ImageDraw, face) -> None:
    rows = [
        ("姓名", face.name),
        ("社会保障号码", face.ssn),
        ("人员识别号", face.person_code),
        ("发卡日期", f"{face.issue_date:%Y年%m月%d日}" if face.issue_date else "—"),
    ]
    for i, (label, value) in enumerate(rows):
        y = 150 + i * 68
        draw.text((260, y), label, font=_font(22), fill=(90, 95, 110))
        draw.text((260, y + 26), value, font=_font(32), fill=INK)


def _seal(draw: ImageDraw.ImageDraw, centre: tuple[int, int], text: str) -> None:
    x, y = centre
    draw.ellipse((x - 70, y - 70, x + 70, y + 70), outline=SEAL_RED, width=5)
    draw.text((x, y - 8), "★", font=_font(40), fill=SEAL_RED, anchor="mm")
    half = (len(text) + 1) // 2
    draw.text((x, y - 40), text[:half], font=_font(16), fill=SEAL_RED, anchor="mm")
    draw.text((x, y + 36), text[half:], font=_font(16), fill=SEAL_RED, anchor="mm")
    draw.text((x, y + 56), "发卡专用章", font=_font(12), fill=SEAL_RED, anchor="mm")


def _chip(draw: ImageDraw.ImageDraw, origin: tuple[int, int]) -> None:
    x, y = origin
    draw.rounded_rectangle((x, y, x + 120, y + 95), radius=14, fill=(212, 175, 55),
                           outline=(150, 120, 30), width=3)
    for dy in (30, 62):
        draw.line((x, y + dy, x + 120, y + dy), fill=(150, 120, 30), width=3)
    draw.line((x + 60, y, x + 60, y + 95), fill=(150, 120, 30), width=3)
    for r in (18, 30, 42):  # contactless mark
        draw.arc((x + 140 - r, y + 48 - r, x + 140 + r, y + 48 + r), -50, 50,
                 fill=(120, 120, 130), width=4)
