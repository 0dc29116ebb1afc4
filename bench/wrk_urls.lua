-- wrk script for bench/s3.sh: rotates through a list of (presigned) request
-- targets, one "path?query" per line, optionally sending a body.
--
--   wrk -t2 -c16 -d5s -s bench/wrk_urls.lua http://127.0.0.1:PORT -- GET urls.txt
--   wrk -t2 -c16 -d5s -s bench/wrk_urls.lua http://127.0.0.1:PORT -- PUT urls.txt body.bin
--
-- Requests are formatted once in init(), so request() only hands back a
-- prebuilt string. Each thread starts at a different place in the list.
-- done() prints one machine-readable line, "WRK_RESULT key=value ...".

local requests = {}
local n, i = 0, 0
local threads = 0

function setup(thread)
   thread:set("thread_index", threads)
   threads = threads + 1
end

function init(args)
   local method = args[1] or "GET"
   local urlfile = assert(args[2], "usage: -- METHOD URLFILE [BODYFILE]")
   local body = nil
   if args[3] then
      local f = assert(io.open(args[3], "rb"))
      body = f:read("*a")
      f:close()
   end
   for line in io.lines(urlfile) do
      if #line > 0 then
         n = n + 1
         requests[n] = wrk.format(method, line, {}, body)
      end
   end
   assert(n > 0, "no request targets in " .. urlfile)
   i = ((thread_index or 0) * math.floor(n / 2 + 1)) % n
end

function request()
   i = i % n + 1
   return requests[i]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK_RESULT requests=%d duration_us=%d status=%d connect=%d read=%d write=%d timeout=%d p50_us=%d p99_us=%d\n",
      summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(99)))
end
