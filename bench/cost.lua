-- wrk script for bench/cost.sh: authenticated GETs spread round robin
-- over many sessions, so that the session cache holds as many entries as
-- there are sessions, not one.
--
-- Environment:
--   COST_SESSIONS  file, one Cookie header value a line
--   COST_PATH      the path asked for (default /bench/page)
--   COST_PAUSE_MS  optional pause before each request of a connection (a
--                  load below saturation)

local reqs, n, i = {}, 0, 0
local path = os.getenv("COST_PATH") or "/bench/page"
local pause = tonumber(os.getenv("COST_PAUSE_MS") or "0") or 0

if pause > 0 then
    function delay()
        return pause
    end
end

function init(args)
    local name = os.getenv("COST_SESSIONS")
    local f = assert(io.open(name, "r"), "cannot open " .. tostring(name))

    for line in f:lines() do
        if line ~= "" then
            n = n + 1
            reqs[n] = wrk.format("GET", path, { Cookie = line })
        end
    end

    f:close()
    assert(n > 0, "no sessions in " .. name)
    i = math.random(n) - 1
end

function request()
    i = i % n + 1
    return reqs[i]
end
