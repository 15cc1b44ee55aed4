-- One GET, over and over: `YKT_BENCH_PATH`, with the plan's admin token when YKT_BENCH_AUTH=1.
package.path = os.getenv("YKT_BENCH_LUA") .. "/?.lua;" .. package.path
local common = require("common")
common.report_refusals_and_totals()
local headers = {}

function init(args)
  if os.getenv("YKT_BENCH_AUTH") == "1" then
    headers["Authorization"] = "Bearer " .. common.plan().admin_token
  end
end

function request()
  return wrk.format("GET", os.getenv("YKT_BENCH_PATH"), headers)
end
