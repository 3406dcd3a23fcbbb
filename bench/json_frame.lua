-- bench/json_frame.lua - CPU time of xano.realtime.json on one frame:
-- building the echo benchmark's message frame (ch:send's work) and
-- decoding it (what the client does with every frame it receives), and
-- decoding a message frame as Xano sends it (with its client entry); and
-- encoding a game state of 20 units with 80 floats, short decimals (which
-- lua-cjson writes exactly) or thirds (16-17 digits: the slower encoder).
--
--   lua5.4 bench/json_frame.lua [DIR] [N] [PART]    DIR: a checkout (default .)
--
-- Prints one JSON line: microseconds per call (os.clock over N calls).
-- PART (encode, decode, decode_xano, floats_short or floats_long) runs
-- that part only, for
-- instruction counts: valgrind --tool=callgrind lua5.4 bench/json_frame.lua
-- DIR N PART, at two values of N; the difference over the difference of N
-- is per call and independent of the machine's load.
local dir, N, part = arg[1] or ".", tonumber(arg[2]) or 1000000, arg[3]
local tag = type(jit) == "table" and "luajit" or _VERSION:match("%d+%.%d+")
package.path = dir .. "/lua/?.lua;" .. package.path
package.cpath = dir .. "/build/" .. tag .. "/?.so;" .. package.cpath
local json = require "xano.realtime.json"

local payload = { seq = 12345, text = string.rep("x", 64) }
local echo = json.message("bench", payload)
local xano = '{"action":"message","options":{"channel":"room"},"client":{"socketId":' ..
  '"3f9a0c1d2e4b5a6978877665544332211","extras":{"name":"Alice"},"permissions":' ..
  '{"dbo_id":1,"row_id":42}},"payload":{"seq":12345,"text":"hello","pos":{"x":1.5,"y":-3}}}'

local function runs(name) return part == nil or part == name end
local function units(f)
  local t = {}
  for i = 1, 20 do t[i] = { id = i, name = "unit" .. i, x = f(i), y = f(i + 0.5) } end
  return { units = t }
end
local short, long = units(function(i) return i / 4 end), units(function(i) return i / 3 end)
local M = math.max(1, math.floor(N / 50))

local clock = os.clock
local t0 = clock()
for i = 1, runs("encode") and N or 0 do
  payload.seq = i
  local _ = json.message("bench", payload)
end
local t1 = clock()
for _ = 1, runs("decode") and N or 0 do local _ = json.decode(echo) end
local t2 = clock()
for _ = 1, runs("decode_xano") and N or 0 do local _ = json.decode(xano) end
local t3 = clock()
for _ = 1, runs("floats_short") and M or 0 do local _ = json.encode(short) end
local t4 = clock()
for _ = 1, runs("floats_long") and M or 0 do local _ = json.encode(long) end
local t5 = clock()
print(string.format('{"encode_us":%.4f,"decode_us":%.4f,"decode_xano_us":%.4f,' ..
  '"floats_short_us":%.4f,"floats_long_us":%.4f}', (t1 - t0) / N * 1e6, (t2 - t1) / N * 1e6,
  (t3 - t2) / N * 1e6, (t4 - t3) / M * 1e6, (t5 - t4) / M * 1e6))
