-- Shared by the request-path load scripts (bench/request_path.py writes the plan they read).
-- Every thread reports its own counts; `done` prints one JSON line the bench parses.
local M = {}

function M.plan()
  return dofile(os.getenv("YKT_BENCH_PLAN"))
end

-- `more`: further JSON members of the line (', "name": value'), or nil.
function M.report(summary, latency, label, more)
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"label": "%s", "requests": %d, "seconds": %.3f, "p50_ms": %.3f, "p99_ms": %.3f, '
    .. '"status_errors": %d, "socket_errors": %d%s}\n',
    label, summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout, more or ""))
end

-- The first few refusals of a thread go to stderr, so a run with errors says which.
local shown = 0
function M.show_refusal(status, body)
  if status >= 400 and shown < 3 then
    shown = shown + 1
    io.stderr:write("refused " .. status .. ": " .. string.sub(body or "", 1, 240) .. "\n")
  end
end

-- wrk calls the globals `response` and `done`; every script reports the same way.
function M.report_refusals_and_totals()
  function response(status, headers, body)
    M.show_refusal(status, body)
  end
  function done(summary, latency, requests)
    M.report(summary, latency, os.getenv("YKT_BENCH_LABEL"))
  end
end

return M
