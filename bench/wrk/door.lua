-- One read door on its own, over and over (YKT_BENCH_DOOR): an e-card code checked by a
-- terminal (verify), a transit contact polled by the counter that started it (contact_poll)
-- or started (contact_start), the bare app's one-row write (bare_write), or e-card codes redeemed at a counter (redeem: each code once,
-- each wrk thread on the codes of its own holders, round robin, so that no two requests in
-- flight redeem for the same e-card).
package.path = os.getenv("YKT_BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")
common.report_refusals_and_totals()
local door, fixed, redeems, used = os.getenv("YKT_BENCH_DOOR"), nil, {}, 0
local next_thread, threads = 0, {}
spent = false  -- this thread's redeem codes all used (read by `done` through thread:get)

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_no", next_thread)
  threads[#threads + 1] = thread
end

-- The counts, and how many threads ran out of redeem codes and stopped early.
function done(summary, latency, requests)
  local out_of_codes = 0
  for _, thread in ipairs(threads) do
    if thread:get("spent") then out_of_codes = out_of_codes + 1 end
  end
  common.report(summary, latency, os.getenv("YKT_BENCH_LABEL"),
                string.format(', "threads_out_of_codes": %d', out_of_codes))
end

function init(args)
  if door == "bare_write" then  -- the bare app's write baseline: no plan, no credential
    fixed = wrk.format("POST", "/write", { ["Content-Type"] = "application/json" },
                       '{"purpose": "read"}')
    return
  end
  local plan = common.plan()
  local function bearer(token)
    return { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
  end
  if door == "verify" then
    fixed = wrk.format("POST", "/api/v1/ecard/verify", bearer(plan.terminal_token),
                       '{"token": "' .. plan.verify_code .. '"}')
  elseif door == "contact_poll" then
    fixed = wrk.format("GET", "/api/v1/transit/contacts/" .. plan.contact_id,
                       { ["Authorization"] = "Bearer " .. plan.transit_token })
  elseif door == "contact_start" then
    fixed = wrk.format("POST", "/api/v1/transit/contacts", bearer(plan.transit_token),
                       '{"purpose": "read"}')
  elseif door == "redeem" then
    local threads, mine = tonumber(os.getenv("YKT_BENCH_DOOR_THREADS")), {}
    for i, codes in ipairs(plan.door_codes) do
      if i % threads == thread_no - 1 then mine[#mine + 1] = codes end
    end
    for round = 1, #mine[1] do  -- holder 1's code, holder 2's, ..., then each one's next
      for _, codes in ipairs(mine) do
        redeems[#redeems + 1] = wrk.format("POST", "/api/v1/ecard/redeem", bearer(plan.outlet_token),
          '{"token": "' .. codes[round] .. '", "business": "hospital_registration", '
          .. '"terminal_id": "BENCH-DOOR-' .. thread_no .. '"}')
      end
    end
  end
end

function request()
  if door ~= "redeem" then return fixed end
  used = used + 1
  if used > #redeems then
    -- Out of codes (the bench makes enough; say so if it did not): the thread stops at the
    -- end of this turn of its loop. A replay would only be refused (an error that is none);
    -- this request is sent but its answer never read, so nothing counts it.
    if not spent then io.stderr:write("out of codes after " .. #redeems .. "\n") end
    spent = true
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  return redeems[used]
end
