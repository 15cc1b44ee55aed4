#!/usr/bin/env bash
# Until the first release the schema is one initial migration, regenerated from the models.
# After a release, add migrations with `alembic revision --autogenerate` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f src/yikatong/db/migrations/versions/*.py
tmp=$(mktemp -d)
.venv/bin/python - "$tmp" <<'PY'
import sys
from yikatong.db.engine import make_engine
from yikatong.db.migrate import alembic_config
from alembic import command

engine = make_engine(f"sqlite:///{sys.argv[1]}/blank.db")
config = alembic_config(str(engine.url))
with engine.begin() as connection:
    config.attributes["connection"] = connection
    command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")
PY
rm -rf "$tmp"
.venv/bin/ruff format --quiet src/yikatong/db/migrations/versions/
.venv/bin/ruff check --quiet --fix src/yikatong/db/migrations/versions/ || true
ls src/yikatong/db/migrations/versions/
