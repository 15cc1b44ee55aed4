-- A city's reads, in proportion: of every 20 requests, 12 card look-ups (outlet counters,
-- 12333, banks), 5 e-card code checks by terminals, 2 transit contact status polls, 1 health
-- check by the load balancer. Cards are spread over the plan's card list.
package.path = os.getenv("YKT_BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")
common.report_refusals_and_totals()
local plan, counter, requests_of = nil, 0, {}

function init(args)
  plan = common.plan()
  local admin = { ["Authorization"] = "Bearer " .. plan.admin_token }
  local terminal = { ["Authorization"] = "Bearer " .. plan.terminal_token,
                     ["Content-Type"] = "application/json" }
  local verify = wrk.format("POST", "/api/v1/ecard/verify", terminal,
                            '{"token": "' .. plan.verify_code .. '"}')
  local contact = wrk.format("GET", "/api/v1/transit/contacts/" .. plan.contact_id,
                             { ["Authorization"] = "Bearer " .. plan.transit_token })
  local health = wrk.format("GET", "/healthz")
  local cards = {}
  for i, card_no in ipairs(plan.read_cards) do
    cards[i] = wrk.format("GET", "/api/v1/cards/" .. card_no, admin)
  end
  for i = 1, 20 do
    if i <= 12 then requests_of[i] = cards
    elseif i <= 17 then requests_of[i] = { verify }
    elseif i <= 19 then requests_of[i] = { contact }
    else requests_of[i] = { health } end
  end
end

function request()
  counter = counter + 1
  local choices = requests_of[(counter % 20) + 1]
  return choices[(counter % #choices) + 1]
end
