-- wrk script for bench/soak.sh: authenticated load spread over many
-- sessions, with every answer checked against the session it was for.
--
-- Environment (read by every wrk thread):
--   SOAK_SESSIONS  file, one session a line: index group kind pin cookie
--                  (group "saved" or "memory", kind "browser" or "json")
--   SOAK_OUT       file that done() writes the results to
--   SOAK_PAUSE_MS  optional pause before each request of a connection
--
-- Requests go round robin over the sessions: GET /soak/page?s=<index>,
-- with the session cookie, and "Accept: application/json" for the json
-- kind.  The proxy echoes s back in X-Soak-Session on every answer
-- (add_header ... always), so each answer is checked against its session:
--   200  body must name the session's own PIN (from the backend);
--   302  only for browsers, 401 only for json clients; a "saved" session
--        must never get either (Redis keeps it), a "memory" session only
--        after Redis lost it, and never a 200 again afterwards;
--   503  counted in windows of time (Redis restarts);
--   anything else is counted as is.

local ffi = require("ffi")

ffi.cdef [[
typedef struct { long tv_sec; long tv_usec; } soak_timeval_t;
int gettimeofday(soak_timeval_t *tv, void *tz);
]]

local tv = ffi.new("soak_timeval_t")

local function now_ms()
    ffi.C.gettimeofday(tv, nil)
    return tonumber(tv.tv_sec) * 1000 + math.floor(tonumber(tv.tv_usec) / 1000)
end

local pause = tonumber(os.getenv("SOAK_PAUSE_MS") or "0") or 0

if pause > 0 then
    function delay()
        return pause
    end
end

-- main state: keep the threads to collect their counters in done()

local threads = {}

function setup(thread)
    table.insert(threads, thread)
    thread:set("id", #threads)
end

-- thread state

local reqs, group, kind, body_ok = {}, {}, {}, {}
local n, i = 0, 0

-- results, read by done() through thread:get()
counts = {}          -- status -> answers
gcounts = {}         -- "group status" -> answers
timeline = {}        -- 100 ms bucket -> { status -> answers }
windows = {}         -- 503 windows: { first ms, last ms, answers }
checks = {
    saved_to_login = 0,   -- saved session got 302/401
    early_login = 0,      -- memory session got 302/401, first time, ms
    resurrected = 0,      -- 200 for a session after it was sent to login
    wrong_kind = 0,       -- 302 to a json client, 401 to a browser
    wrong_identity = 0,   -- 200 whose body is not the session's PIN
    unattributed = 0,     -- answer without a valid X-Soak-Session
}
lost = {}            -- session -> ms of its first 302/401

function init(args)
    local path = os.getenv("SOAK_SESSIONS")
    local f = assert(io.open(path, "r"), "cannot open " .. tostring(path))

    for line in f:lines() do
        local idx, g, k, pin, cookie =
            line:match("^(%d+) (%S+) (%S+) (%S+) (%S+)$")
        if idx then
            idx = tonumber(idx)
            local headers = { Cookie = cookie }
            if k == "json" then
                headers["Accept"] = "application/json"
            end
            n = n + 1
            reqs[n] = wrk.format("GET", "/soak/page?s=" .. idx, headers)
            group[idx] = g
            kind[idx] = k
            body_ok[idx] = "legacy MIS page pin=" .. pin .. "\n"
        end
    end

    f:close()
    assert(n > 0, "no sessions in " .. path)

    -- threads start at different places in the list (init() runs before
    -- the next thread exists, so the thread count is not known here)
    i = ((id - 1) * 7919) % n
end

function request()
    i = i % n + 1
    return reqs[i]
end

function response(status, headers, body)
    local t = now_ms()
    local b = math.floor(t / 100)

    counts[status] = (counts[status] or 0) + 1

    local tb = timeline[b]
    if tb == nil then
        tb = {}
        timeline[b] = tb
    end
    tb[status] = (tb[status] or 0) + 1

    if status == 503 then
        local w = windows[#windows]
        if w ~= nil and t - w[2] <= 1500 then
            w[2] = t
            w[3] = w[3] + 1
        else
            windows[#windows + 1] = { t, t, 1 }
        end
    end

    local s = tonumber(headers["X-Soak-Session"])
    local g = s and group[s]

    if g == nil then
        checks.unattributed = checks.unattributed + 1
        return
    end

    local key = g .. " " .. status
    gcounts[key] = (gcounts[key] or 0) + 1

    if status == 200 then
        if body ~= body_ok[s] then
            checks.wrong_identity = checks.wrong_identity + 1
        end
        if lost[s] ~= nil then
            checks.resurrected = checks.resurrected + 1
        end

    elseif status == 302 or status == 401 then
        if (status == 302) ~= (kind[s] == "browser") then
            checks.wrong_kind = checks.wrong_kind + 1
        end
        if g == "saved" then
            checks.saved_to_login = checks.saved_to_login + 1
        elseif lost[s] == nil then
            lost[s] = t
            if checks.early_login == 0 or t < checks.early_login then
                checks.early_login = t
            end
        end
    end
end

-- wrk's thread:get() copies tables badly (nested ones crash it), so each
-- thread hands its results over as one string: reading the global
-- "results" (after the thread has stopped) builds it.

local function results()
    local out = {}
    for k, v in pairs(counts) do
        out[#out + 1] = string.format("status %s %d", k, v)
    end
    for k, v in pairs(gcounts) do
        out[#out + 1] = string.format("group %s %d", k, v)
    end
    for k, v in pairs(checks) do
        out[#out + 1] = string.format("check %s %.0f", k, v)
    end
    for _, w in ipairs(windows) do
        out[#out + 1] = string.format("window503 %.0f %.0f %d",
                                      w[1], w[2], w[3])
    end
    for b, st in pairs(timeline) do
        for k, v in pairs(st) do
            out[#out + 1] = string.format("tl %.0f %s %d", b, k, v)
        end
    end
    return table.concat(out, "\n") .. "\n"
end

setmetatable(_G, {
    __index = function(_, k)
        if k == "results" then
            return results()
        end
        return nil
    end
})

-- main state again

function done(summary, latency, requests)
    local sums, order, wins, early = {}, {}, {}, 0

    for _, thread in ipairs(threads) do
        for line in thread:get("results"):gmatch("[^\n]+") do
            local key, v = line:match("^(.*) (%d+)$")
            if line:match("^window503 ") then
                local a, b, c = line:match("^window503 (%d+) (%d+) (%d+)$")
                wins[#wins + 1] = { tonumber(a), tonumber(b), tonumber(c) }
            elseif key == "check early_login" then
                v = tonumber(v)
                if v ~= 0 and (early == 0 or v < early) then
                    early = v
                end
            elseif key ~= nil then
                if sums[key] == nil then
                    order[#order + 1] = key
                    sums[key] = 0
                end
                sums[key] = sums[key] + tonumber(v)
            end
        end
    end

    -- merge the 503 windows of all threads
    table.sort(wins, function(a, b) return a[1] < b[1] end)
    local merged = {}
    for _, w in ipairs(wins) do
        local m = merged[#merged]
        if m ~= nil and w[1] - m[2] <= 1500 then
            if w[2] > m[2] then m[2] = w[2] end
            m[3] = m[3] + w[3]
        else
            merged[#merged + 1] = { w[1], w[2], w[3] }
        end
    end

    local out = assert(io.open(os.getenv("SOAK_OUT"), "w"))
    local e = summary.errors
    out:write(string.format("summary requests %d\n", summary.requests))
    out:write(string.format("summary duration_us %d\n", summary.duration))
    out:write(string.format("summary connect %d\nsummary read %d\n"
                            .. "summary write %d\nsummary timeout %d\n",
                            e.connect, e.read, e.write, e.timeout))
    out:write(string.format("summary p50_us %d\nsummary p99_us %d\n",
                            latency:percentile(50), latency:percentile(99)))
    out:write(string.format("check early_login %.0f\n", early))
    for _, k in ipairs(order) do
        out:write(string.format("%s %d\n", k, sums[k]))
    end
    for _, w in ipairs(merged) do
        out:write(string.format("window503 %.0f %.0f %d\n", w[1], w[2], w[3]))
    end
    out:close()
end
