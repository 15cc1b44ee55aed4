"""The card-face proof (PNG, sides A and B) and the operators' commands: ykt apply,
production run, card face."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.applications.conftest import new_applicant, walk_to_hand_over
from yikatong.applications import production
from yikatong.applications.facecard import (
    CARD_SIZE,
    PHOTO_BOX,
    SIDE_GAP,
    find_cjk_font,
    render_proof,
    render_side_a,
    render_side_b,
)
from yikatong.cli.main import app as ykt

pytestmark = pytest.mark.db


def _region(image: Image.Image, box) -> np.ndarray:
    return np.asarray(image.crop(box).convert("L"), dtype=float)


def test_face_proof_has_every_region_filled(platform, apply):
    done = walk_to_hand_over(platform, apply(new_applicant()).id)
    with platform.uow() as uow:
        proof = production.face_proof(uow=uow, application_id=done.id)
    assert proof.face.hr_hotline == "12333" and proof.face.bank_hotline == "95588"
    assert proof.face.issue_date == done.issue_date and proof.pan == done.pan
    image = Image.open(io.BytesIO(render_side_b(proof)))
    assert image.size == CARD_SIZE and image.format == "PNG"
    background = _region(image, (300, 440, 1000, 460))          # a strip between rows
    assert background.std() < 2
    for name, box in {
        "bank name": (120, 30, 500, 100), "one-card mark": (560, 36, 820, 96),
        "photo": PHOTO_BOX, "fields": (255, 145, 600, 420), "seal": (620, 290, 760, 430),
        "account number": (245, 465, 900, 525), "hotlines": (35, 555, 1000, 595),
    }.items():
        assert _region(image, box).std() > 15, name   # something is drawn there


@pytest.mark.no_db
def test_side_a_carries_the_emblem_area_title_chip_and_marks():
    image = Image.open(io.BytesIO(render_side_a()))
    assert image.size == CARD_SIZE
    assert _region(image, (300, 440, 1000, 520)).std() < 2   # nothing between marks and footer
    for name, box in {
        "emblem area": (50, 40, 190, 180), "title": (230, 70, 960, 150),
        "chip": (120, 260, 240, 355), "contactless mark": (245, 260, 310, 355),
        "one-card mark": (560, 260, 940, 330), "T-Union mark": (700, 360, 940, 420),
        "ministry line": (150, 540, 860, 580),
    }.items():
        assert _region(image, box).std() > 15, name


def test_the_proof_shows_side_a_beside_side_b(platform, apply):
    done = walk_to_hand_over(platform, apply(new_applicant()).id)
    with platform.uow() as uow:
        proof = production.face_proof(uow=uow, application_id=done.id)
    sheet = Image.open(io.BytesIO(render_proof(proof)))
    assert sheet.size == (2 * CARD_SIZE[0] + SIDE_GAP, CARD_SIZE[1])
    side_a = Image.open(io.BytesIO(render_side_a())).convert("RGB")
    side_b = Image.open(io.BytesIO(render_side_b(proof))).convert("RGB")
    left = sheet.crop((0, 0, *CARD_SIZE)).convert("RGB")
    right = sheet.crop((CARD_SIZE[0] + SIDE_GAP, 0, 2 * CARD_SIZE[0] + SIDE_GAP, CARD_SIZE[1]))
    assert np.array_equal(np.asarray(left), np.asarray(side_a))
    assert np.array_equal(np.asarray(right.convert("RGB")), np.asarray(side_b))


@pytest.mark.no_db
@pytest.mark.skipif(find_cjk_font() is None, reason="no CJK font installed")
def test_chinese_text_is_drawn_with_real_glyphs():
    from yikatong.applications.facecard import _font

    font = _font(32)
    assert font.getbbox("卡") != font.getbbox("口")   # tofu boxes would all be the same


LATIN_ONLY = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # fontconfig's answer without CJK fonts


@pytest.mark.no_db
@pytest.mark.skipif(not os.path.exists(LATIN_ONLY), reason="DejaVu Sans is not installed")
def test_a_font_that_draws_boxes_for_chinese_is_not_taken_for_a_cjk_font():
    from yikatong.applications.facecard import _has_cjk

    assert not _has_cjk(LATIN_ONLY)


@pytest.fixture
def cli_env(platform, monkeypatch):
    from yikatong.cli import context

    monkeypatch.setenv("YKT_DATABASE_URL", platform.settings.database_url)
    monkeypatch.setenv("YKT_KEY_STORE", platform.settings.key_store_path)
    context.platform.cache_clear()
    yield
    context.platform.cache_clear()


def test_cli_apply_produce_and_render(cli_env, tmp_path):
    runner = CliRunner()
    person = new_applicant()
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(person.photo_jpeg)
    applied = runner.invoke(ykt, [
        "apply", "--name", person.name, "--doc-number", person.document_number, "--gender", "M",
        "--birth-date", person.birth_date.isoformat(), "--bank", "CITIC", "--photo", str(photo),
        "--valid-until", "2036-01-01", "--approve"], catch_exceptions=False)
    assert applied.exit_code == 0, applied.output
    assert "免费" in applied.output and "free of charge" in applied.output
    assert "approved" in applied.output
    refused = runner.invoke(ykt, ["apply", "--name", "某人", "--doc-number", "320402199003070014",
                                  "--gender", "M", "--birth-date", "1990-03-07", "--bank", "ICBC"])
    assert refused.exit_code == 1 and "invalid_id_number" in refused.output
    produced = runner.invoke(ykt, ["production", "run", "--poll-interval", "0"],
                             catch_exceptions=False)
    assert produced.exit_code == 0, produced.output
    card_no = next(line.split()[-1] for line in produced.output.splitlines()
                   if line.strip().startswith("card "))
    out = tmp_path / "face.png"
    face = runner.invoke(ykt, ["card", "face", card_no, "--out", str(out)], catch_exceptions=False)
    assert face.exit_code == 0, face.output
    assert Image.open(out).size == (2 * CARD_SIZE[0] + SIDE_GAP, CARD_SIZE[1])  # A beside B
    missing = runner.invoke(ykt, ["card", "face", "Z99999999", "--out", str(out)])
    assert missing.exit_code == 1 and "card_not_found" in missing.output


@pytest.mark.no_db
def test_an_unfinished_batch_names_the_command_that_collects_it():
    from types import SimpleNamespace

    from yikatong.applications import cli

    batch = SimpleNamespace(id=42, factory_batch_id="F-7")
    with cli.console.capture() as captured:
        cli._print_outcome(SimpleNamespace(batch=batch, complete=False))
    assert "ykt production collect 42" in captured.get()
