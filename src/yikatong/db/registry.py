"""Import every domain's models so Base.metadata knows all tables (for migrations, tests)."""

from __future__ import annotations

import importlib
import pkgutil

import yikatong
from yikatong.db.base import Base


def load_all_models():
    for module in pkgutil.iter_modules(yikatong.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"yikatong.{module.name}.models")
            except ModuleNotFoundError as error:
                if error.name != f"yikatong.{module.name}.models":
                    raise
    importlib.import_module("yikatong.db.idempotency")
    return Base.metadata
