-- wrk script: stops the thread after BENCH_REQUESTS responses, so allocations are divided by a known count.
local limit = tonumber(os.getenv("BENCH_REQUESTS") or "100000")
local seen = 0

function response(status, headers, body)
  seen = seen + 1
  if seen >= limit then
    wrk.thread:stop()
  end
end
