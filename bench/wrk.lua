-- The request loop of `bench/run api`, for wrk: each connection walks its own way through
-- the paths in $BENCH_PATHS (one per line), sends $BENCH_TOKEN, keeps to $BENCH_RATE
-- requests/s when it is set, and the run ends with one JSON line.

local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do
    paths[#paths + 1] = line
end
local rate = tonumber(os.getenv("BENCH_RATE") or "0")  -- requests/s for this thread; 0: flat out
local counter = math.random(#paths)

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

wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")

function request()
    counter = counter % #paths + 1
    return wrk.format("GET", paths[counter])
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
