-- A city's lifecycle writes, one connection per thread so each thread's steps run in order on
-- its own cards: 12333 reports a card temporarily lost, then lifts it; a counter redeems a
-- fresh e-card code (each code once, while they last); a phone starts a transit card contact.
package.path = os.getenv("YKT_BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")
common.report_refusals_and_totals()
local counter, steps = 0, {}
local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_no", next_thread)
end

function init(args)
  local plan = common.plan()
  local phone = { ["Authorization"] = "Bearer " .. plan.phone_token,
                  ["Content-Type"] = "application/json" }
  local outlet = { ["Authorization"] = "Bearer " .. plan.outlet_token,
                   ["Content-Type"] = "application/json" }
  local transit = { ["Authorization"] = "Bearer " .. plan.transit_token,
                    ["Content-Type"] = "application/json" }
  local threads = tonumber(os.getenv("YKT_BENCH_WRITE_THREADS"))
  local mine, codes = {}, {}
  for i, card_no in ipairs(plan.write_cards) do
    if i % threads == thread_no - 1 then mine[#mine + 1] = card_no end
  end
  for i, code in ipairs(plan.redeem_codes) do
    if i % threads == thread_no - 1 then codes[#codes + 1] = code end
  end
  local contact = wrk.format("POST", "/api/v1/transit/contacts", transit, '{"purpose": "read"}')
  -- one round per card: a contact, loss, unblock, a redeem. The contact comes first because
  -- wrk asks a thread for one request it never sends: losing a contact start breaks no order.
  for _, card_no in ipairs(mine) do
    steps[#steps + 1] = contact
    steps[#steps + 1] = wrk.format("POST", "/api/v1/cards/" .. card_no .. "/loss", phone,
                                   '{"kind": "temporary"}')
    steps[#steps + 1] = wrk.format("POST", "/api/v1/cards/" .. card_no .. "/unblock", phone, '{}')
    steps[#steps + 1] = "redeem"
  end
  redeems = {}  -- globals of this thread
  for _, code in ipairs(codes) do
    redeems[#redeems + 1] = wrk.format("POST", "/api/v1/ecard/redeem", outlet,
      '{"token": "' .. code .. '", "business": "hospital_registration", "terminal_id": "BENCH-'
      .. thread_no .. '"}')
  end
  used = 0
end

function request()
  counter = counter + 1
  local step = steps[((counter - 1) % #steps) + 1]
  if step == "redeem" then
    used = used + 1
    if used <= #redeems then return redeems[used] end
    counter = counter + 1  -- out of fresh codes: on to the next round's contact
    step = steps[((counter - 1) % #steps) + 1]
  end
  return step
end
