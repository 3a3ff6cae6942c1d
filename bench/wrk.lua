-- The request loop of `bench/run api`, for wrk. Each request reads a random job or reference
-- anywhere in the table that bench/api.py filled: job n belongs to reference R-(n / PER) of
-- tenant number (n / PER) mod (the tenants listed in $BENCH_TENANTS). $BENCH_LOAD is fetch
-- (one job), list (a reference's page of PER), select1 (the list's guard and path, then one
-- `SELECT 1` on the same reads: bench/select1_domain.py) or trivial (/health/live, no
-- database).
-- It sends $BENCH_TOKEN, keeps to $BENCH_RATE requests/s when it is set, and the run ends
-- with one JSON line.

local tenants = {}
for line in io.lines(os.getenv("BENCH_TENANTS")) do
    tenants[#tenants + 1] = line
end
local rows = tonumber(os.getenv("BENCH_ROWS"))
local per = tonumber(os.getenv("BENCH_PER"))
local load = os.getenv("BENCH_LOAD")
local rate = tonumber(os.getenv("BENCH_RATE") or "0")  -- requests/s for this thread; 0: flat out

-- A monotonic clock in milliseconds, through LuaJIT's FFI (wrk's Lua has none of its own).
local ffi = require("ffi")
ffi.cdef[[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
    int clock_gettime(int clock_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")
local function now_ms()
    ffi.C.clock_gettime(1, timespec)  -- CLOCK_MONOTONIC
    return tonumber(timespec.tv_sec) * 1000 + tonumber(timespec.tv_nsec) / 1e6
end

math.randomseed(math.floor(now_ms() * 1000) % 2147483647)
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")

local function base(reference)
    local tenant = tenants[reference % #tenants + 1]
    return "/document/" .. tenant .. "/documents/transaction/R-" .. reference .. "/jobs/"
end

function request()
    if load == "trivial" then
        return wrk.format("GET", "/health/live")
    end
    if load == "list" then
        local reference = math.random(0, math.floor(rows / per) - 1)
        return wrk.format("GET", base(reference) .. "list?count=" .. per)
    end
    if load == "select1" then
        local reference = math.random(0, math.floor(rows / per) - 1)
        local tenant = tenants[reference % #tenants + 1]
        return wrk.format("GET", "/document/" .. tenant .. "/documents/transaction/R-"
                          .. reference .. "/select1")
    end
    local n = math.random(0, rows - 1)
    return wrk.format("GET", base(math.floor(n / per)) .. string.format("J%025d", n))
end

-- A fixed rate: each request takes the next slot of a schedule spaced 1000/rate ms apart
-- and waits for it; a connection whose answer came late finds its slot due and goes at once.
if rate > 0 then
    local interval, slot = 1000 / rate, nil
    function delay()
        local now = now_ms()
        slot = slot and math.max(slot + interval, now - 1000) or now
        return math.max(0, math.floor(slot - now + 0.5))
    end
end

function done(summary, latency, requests)
    local errors = summary.errors
    io.write(string.format(
        '{"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, ' ..
        '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
        summary.requests, summary.duration, errors.status,
        errors.connect + errors.read + errors.write + errors.timeout,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
