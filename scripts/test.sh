#!/usr/bin/env bash
# The whole suite on SQLite (event tests on NATS JetStream), then every database test again
# on PostgreSQL. Servers: the machine's own when they answer, else throwaway ones (tests/servers.py).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
status=0

echo "== ruff =="
.venv/bin/ruff check --quiet src tests bench || status=1

echo "== 1/2 the whole suite on SQLite =="
$PY -m pytest "$@" || status=1

echo "== 2/2 the database tests again on PostgreSQL =="
YKT_TEST_DB=postgres $PY -m pytest -m db "$@" || status=1

exit $status
