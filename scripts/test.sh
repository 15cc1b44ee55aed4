#!/usr/bin/env bash
# The whole suite on SQLite (event tests on NATS JetStream) and every database test again on
# PostgreSQL. Servers: the machine's own when they answer, else throwaway ones (tests/servers.py).
#
# The two suites run at the same time, one pytest each (each is single-threaded; the machine
# has two cores or more): each one's output goes to a file and is printed in full, one after
# the other, once both have finished. Both must pass. YKT_TEST_SERIAL=1 runs them one after
# the other as before (one core, or to watch the output live).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
status=0

echo "== ruff =="
.venv/bin/ruff check --quiet src tests bench || status=1

if [ "${YKT_TEST_SERIAL:-}" = "1" ]; then
    echo "== 1/2 the whole suite on SQLite =="
    $PY -m pytest "$@" || status=1
    echo "== 2/2 the database tests again on PostgreSQL =="
    YKT_TEST_DB=postgres $PY -m pytest -m db "$@" || status=1
    exit $status
fi

logs=$(mktemp -d "${TMPDIR:-/tmp}/ykt-test.XXXXXX")
pids=()
stop() { kill "${pids[@]}" 2>/dev/null; wait; rm -rf "$logs"; exit 130; }
trap stop INT TERM

echo "== the whole suite on SQLite and the database tests on PostgreSQL, at once =="
echo "   (each one's output follows when both have finished; meanwhile: tail -f $logs/*.log)"
started=$SECONDS
$PY -m pytest "$@" >"$logs/sqlite.log" 2>&1 &
pids+=($!)
YKT_TEST_DB=postgres $PY -m pytest -m db "$@" >"$logs/postgres.log" 2>&1 &
pids+=($!)
wait "${pids[0]}"; sqlite=$?
wait "${pids[1]}"; postgres=$?
trap - INT TERM

echo "== 1/2 the whole suite on SQLite (exit status $sqlite) =="
cat "$logs/sqlite.log"
echo "== 2/2 the database tests again on PostgreSQL (exit status $postgres) =="
cat "$logs/postgres.log"
rm -rf "$logs"
[ "$sqlite" -eq 0 ] || status=1
[ "$postgres" -eq 0 ] || status=1
echo "== both suites took $((SECONDS - started)) s; $([ $status -eq 0 ] && echo passed || echo FAILED) =="
exit $status
