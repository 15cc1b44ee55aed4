"""The card centre's reference pages: outlets, banks and fares, read-only, with the version in force."""

from __future__ import annotations

import re

import pytest

from yikatong.core.actor import Actor, Role
from yikatong.directory.rules import packaged_banks, packaged_outlets
from yikatong.directory.service import load_reference_data
from yikatong.transit.fare_config import default_fare_config

pytestmark = pytest.mark.db


def text_of(page) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", page.text).split())


@pytest.fixture
def loaded(platform):
    with platform.uow() as uow:
        load_reference_data(uow=uow, actor=Actor.system("tests"))
        uow.commit()


def test_outlets_with_the_directory_version(platform, signed_in, loaded):
    page = signed_in(Role.ADMIN).get("/centre/reference/outlets")
    assert page.status_code == 200
    words = text_of(page)
    assert all(outlet.code in words for outlet in packaged_outlets())
    assert "reference_data.toml" in words and "最近载入" in words and "新增" in words


def test_banks_in_the_readers_language(platform, signed_in):
    admin = signed_in(Role.ADMIN)
    admin.get("/lang/en")
    words = text_of(admin.get("/centre/reference/banks"))
    assert all(bank.name_en in words for bank in packaged_banks())
    assert "not loaded yet" in words  # no load on this database: the packaged file answers


def test_fares_show_the_version_in_force_and_money_in_yuan(signed_in):
    config = default_fare_config()
    words = text_of(signed_in(Role.ADMIN).get("/centre/reference/fares"))
    assert config.version in words and "2026年01月01日" in words
    home = config.cities[config.home_city]
    assert f"{home.zh} {config.home_city} ¥{home.bus_fare // 100}.{home.bus_fare % 100:02d}" in words
    assert "60%" in words  # a discount as the share of the fare paid


def test_reference_pages_are_the_centres(signed_in):
    outlet = signed_in(Role.SS_OUTLET, branch_code="SS-TN-01")
    assert outlet.get("/centre/reference/fares").status_code == 403


