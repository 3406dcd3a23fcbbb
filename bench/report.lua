-- bench/report.lua - turns a run's results (bench/run.lua) into the chart
-- bench/results/latest.png (gnuplot) and the figures section of
-- bench/README.md, between the markers
--   <!-- figures:begin --> and <!-- figures:end -->
-- (what is outside the markers is written by hand and kept).

local M = {}

local ORDER = { "lua5.4", "luajit", "sdk", "raw" }
local SHORT = { ["lua5.4"] = "Lua 5.4", luajit = "LuaJIT", sdk = "JS SDK", raw = "raw C" }

local function fmt(x, d)
  if type(x) ~= "number" then return "–" end
  return string.format("%." .. (d or 0) .. "f", x)
end

local function thousands(x)
  if type(x) ~= "number" then return "–" end
  local s = string.format("%.0f", x)
  local r = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (r:gsub("^,", ""))
end

local function ratio(a, b, d)
  if type(a) ~= "number" or type(b) ~= "number" or b == 0 then return "–" end
  return string.format("%." .. (d or 2) .. "f×", a / b)
end

local function load_of(g)
  if type(g) ~= "table" or type(g.load) ~= "table" then return "–" end
  return string.format("%.2f (%.0f %%)", g.load[1], (g.busy or 0) * 100)
end

local function each(results, fn)
  for _, id in ipairs(ORDER) do
    if results and results[id] then fn(id, results[id]) end
  end
end

local function label_of(data, id)
  for _, c in ipairs(data.contenders or {}) do
    if c.id == id then return c.label end
  end
  return id
end

-- ------------------------------------------------------------ targets

function M.targets(data)
  local b = data.benchmarks or {}
  local t = {}
  local function add(name, value, goal, met, note)
    t[#t + 1] = { name = name, value = value, goal = goal, met = met, note = note }
  end
  for _, id in ipairs({ "lua5.4", "luajit" }) do
    local tp = b.throughput and b.throughput.results
    if tp and tp[id] then
      local me = tp[id]
      -- Lua 5.4 at least 2.5 times the SDK's rate, LuaJIT 3 times
      local want = id == "luajit" and 3 or 2.5
      if tp.sdk then
        local r = me.rate / tp.sdk.rate
        local rm = me.median_rate and tp.sdk.median_rate and me.median_rate / tp.sdk.median_rate
        add(SHORT[id] .. ": throughput vs the JS SDK (best; median)", string.format("%.2f×%s", r,
          rm and string.format("; %.2f×", rm) or ""), "≥ " .. want .. "×", r >= want)
        local c = tp.sdk.cpu_us_per_msg / me.cpu_us_per_msg
        add(SHORT[id] .. ": messages per CPU-second vs the JS SDK", string.format("%.2f×", c), "(≥ " .. want .. "×)", c >= want)
      end
      if tp.raw then
        local r = me.rate / tp.raw.rate
        add(SHORT[id] .. ": throughput vs raw libwebsockets", string.format("%.0f %%", r * 100), "≥ 60 %", r >= 0.6)
        if id == "lua5.4" then
          add(SHORT[id] .. ": client CPU per message vs raw libwebsockets",
            string.format("%.2f vs %.2f µs", me.cpu_us_per_msg, tp.raw.cpu_us_per_msg), "≤ raw's",
            me.cpu_us_per_msg <= tp.raw.cpu_us_per_msg)
        end
      end
      if id == "lua5.4" and tp.raw then
        for _, bd in ipairs({ b.throughput.bundled or false, b.throughput.bundled_raw or false }) do
          if bd then
            local r = bd.rate / tp.raw.rate
            add("the bundled server's rate (client: " .. SHORT[bd.id] .. ") vs the raw client's with the C relay",
              string.format("%.2f× (%s msgs/s)", r, thousands(bd.rate)), "≥ 0.5×", r >= 0.5)
          end
        end
      end
    end
    local lat = b.latency and b.latency.results and b.latency.results[id]
    if lat and lat.fixed then
      add(SHORT[id] .. ": p99 round trip at 1,000 msgs/s", string.format("%.0f µs", lat.fixed.p99_us),
        "< 1,000 µs", lat.fixed.p99_us < 1000)
    end
    local idle = b.idle and b.idle.results and b.idle.results[id]
    if idle then
      add(SHORT[id] .. ": idle CPU, " .. fmt(idle.clients) .. " clients", string.format("%.3f %%", idle.cpu_percent),
        "< 0.1 %", idle.cpu_percent < 0.1)
    end
    local sc = b.scale and b.scale.clients and b.scale.clients[id]
    if sc then
      add(SHORT[id] .. ": RSS per connected client", string.format("%.1f KiB", sc.rss_per_client / 1024),
        "≤ 64 KiB", sc.rss_per_client <= 64 * 1024)
    end
    local ch = b.scale and b.scale.channels and b.scale.channels[id]
    if ch then
      add(SHORT[id] .. ": RSS per joined channel", string.format("%.2f KiB", ch.rss_per_channel / 1024),
        "≤ 2 KiB", ch.rss_per_channel <= 2048)
    end
    local st = b.storm and b.storm.results and b.storm.results[id]
    if st then
      local all = st.all_rejoined_s
      local spread = st.attempt_stddev_s
      local ok = all ~= nil and st.rejoined == st.clients and all <= st.restart_gap_s + 3 and
        (spread or 0) >= 0.2 and st.peak_accepts_per_100ms <= math.max(2, st.clients * 0.2)
      add(SHORT[id] .. ": " .. fmt(st.clients) .. " clients rejoined after a restart",
        string.format("all in %s s; first attempts σ %s s; peak %d accepts/100 ms", fmt(all, 2),
          fmt(spread, 3), st.peak_accepts_per_100ms),
        "within the backoff windows (1 s + 2 s), spread by the jitter", ok)
    end
  end
  return t
end

-- ------------------------------------------------------------ README

local function section(data)
  local b = data.benchmarks or {}
  local m = data.machine or {}
  local out = {}
  local function w(...) out[#out + 1] = table.concat({ ... }) end

  w("Run of ", data.timestamp or "?", data.quick and " (**quick mode**: small sizes, not the figures to quote)" or "",
    ", ", fmt(data.seconds, 0), " s: `", data.command or "make bench", "`")
  w("")
  w("| Machine | |")
  w("|---|---|")
  w("| CPU | ", fmt(m.nproc), " × ", tostring(m.cpu), " |")
  w("| Kernel | ", tostring(m.kernel), " (", tostring(m.os), ") |")
  w("| Memory | ", thousands(m.mem_mb), " MB |")
  if m.load_at_start then
    w("| Load average at start | ", fmt(m.load_at_start[1], 2), " ", fmt(m.load_at_start[2], 2), " ",
      fmt(m.load_at_start[3], 2), " |")
  end
  if m.load_at_end then
    w("| Load average at end | ", fmt(m.load_at_end[1], 2), " ", fmt(m.load_at_end[2], 2), " ",
      fmt(m.load_at_end[3], 2), " |")
  end
  for _, c in ipairs(data.contenders or {}) do
    w("| ", c.label, " | ", (tostring(c.version or ""):gsub("\n.*", "")), " |")
  end
  w("")
  w("Each figure carries the 1-minute load average and how busy the machine was (others' work, ",
    "sampled over 0.3 s just before) when it was measured.")
  w("")
  w("![throughput and latency](results/latest.png)")
  w("")

  local tp = b.throughput
  if tp then
    local sdk = tp.results.sdk
    local raw = tp.results.raw
    w("### 1. Throughput")
    w("")
    w("One client joins a channel and keeps ", tp.window, " messages in flight until ", thousands(tp.n),
      " echoes came back, after ", thousands(tp.warmup), " warm-up echoes (not measured: they let V8 and ",
      "LuaJIT compile); the best of ", tp.reps, " runs (others' work only slows a run down), the median ",
      "beside it. Server: bench/relay_server (C).",
      data.pinned and " The client runs on CPU 0 and the server on CPU 1 (taskset), here and in " ..
        "the fan-in runs: one core for the client, whatever its threads." or "")
    w("")
    w("| Client | msgs/s | client CPU µs/msg | median msgs/s, CPU µs/msg | vs JS SDK (rate) | vs JS SDK (CPU) | vs raw (rate) | server CPU µs/msg | load (busy) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    each(tp.results, function(id, r)
      local g = r.runs and r.runs[#r.runs] and r.runs[#r.runs].gate
      w("| ", label_of(data, id), " | ", thousands(r.rate), " | ", fmt(r.cpu_us_per_msg, 2), " | ",
        r.median_rate and (thousands(r.median_rate) .. ", " .. fmt(r.median_cpu_us_per_msg, 2)) or "–", " | ",
        sdk and ratio(r.rate, sdk.rate) or "–", " | ",
        sdk and ratio(sdk.cpu_us_per_msg, r.cpu_us_per_msg) or "–", " | ",
        raw and string.format("%.0f %%", r.rate / raw.rate * 100) or "–", " | ",
        fmt(r.server_cpu_us_per_msg, 2), " | ", load_of(g), " |")
    end)
    for _, r in ipairs({ tp.bundled or false, tp.bundled_raw or false }) do
      if r then
        w("| ", label_of(data, r.id), ", **bundled server** | ", thousands(r.rate), " | ", fmt(r.cpu_us_per_msg, 2),
          " | ", r.median_rate and thousands(r.median_rate) or "", " | | | ",
          raw and string.format("%.0f %%", r.rate / raw.rate * 100) or "", " | ",
          fmt(r.server_cpu_us_per_msg, 2), " | ", load_of(r.runs[#r.runs].gate), " |")
      end
    end
    w("")
    w("\"vs JS SDK (CPU)\" is how many times fewer CPU microseconds the client spends per message.")
    w("")
  end

  local lat = b.latency
  if lat then
    w("### 2. Latency")
    w("")
    w("Round trip (send → echo handled by the app), one client, server bench/relay_server, not pinned ",
      "(nothing is short of CPU at 1,000 msgs/s, and client and server on fixed different vCPUs pay a ",
      "cross-vCPU wake-up, about 100 µs on this VM, on every hop); ",
      "at 1,000 msgs/s for ", fmt(lat.seconds, 0), " s, and at the highest sustainable rate ",
      "(tried from 80 % of the client's throughput down; sustained = every echo back, p50 < 5 ms). ",
      "The first tenth of each run warms up and is not counted.")
    w("")
    w("| Client | p50 µs | p99 µs | p99.9 µs | max µs | load (busy); others' share during the run | p99 of each run, µs | highest sustained msgs/s | p50 µs | p99 µs | p99.9 µs |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    each(lat.results, function(id, r)
      local f, x = r.fixed or {}, r.max or {}
      w("| ", label_of(data, id), " | ", fmt(f.p50_us), " | ", fmt(f.p99_us), " | ", fmt(f.p999_us), " | ",
        fmt(f.max_us), " | ", load_of(f.gate), f.others_busy and string.format("; %.0f %%", f.others_busy * 100) or "",
        " | ", f.p99_runs and (function()
          local t = {}
          for i, v in ipairs(f.p99_runs) do t[i] = fmt(v) end
          return table.concat(t, ", ")
        end)() or "–", " | ",
        thousands(x.target_rate), " | ", fmt(x.p50_us), " | ", fmt(x.p99_us), " | ", fmt(x.p999_us), " |")
    end)
    w("")
    w("At 1,000 msgs/s: ", fmt(lat.reps or 1), " runs per client, the one with the median p99 shown; ",
      "\"others' share\" is how busy the machine was during that run, less this client and the relay.")
    w("")
  end

  local fi = b.fanin
  if fi then
    w("### 3. Fan-in")
    w("")
    w("One receiver joined to ", fi.senders, " channels; ", fi.senders, " senders (", fi.sender,
      ") each send ", thousands(fi.per_sender), " messages to their own channel, ", "64 in flight each; ",
      "the receiver's first tenth warms up and is not measured. Server: bench/relay_server.")
    w("")
    w("| Receiver | msgs/s received | receiver CPU µs/msg | vs JS SDK (CPU) | load (busy) |")
    w("|---|---:|---:|---:|---:|")
    local sdk = fi.results.sdk
    each(fi.results, function(id, r)
      w("| ", label_of(data, id), " | ", thousands(r.rate), " | ", fmt(r.cpu_us_per_msg, 2), " | ",
        sdk and ratio(sdk.cpu_us_per_msg, r.cpu_us_per_msg) or "–", " | ", load_of(r.gate), " |")
    end)
    w("")
  end

  local sc = b.scale
  if sc then
    w("### 4. Scale")
    w("")
    w("Server: the bundled one (bench/server.lua), restarted for each row. A channel counts as joined ",
      "when a message sent after the join comes back. RSS is measured inside the client process after a ",
      "full garbage collection (Lua `collectgarbage`, Node `gc()`), before and after.")
    w("")
    w("| Client | clients | connect + join all, s | RSS per client | channels | join all, s | RSS per channel |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    for _, id in ipairs(ORDER) do
      local c, h = sc.clients[id], sc.channels[id]
      if c or h then
        c, h = c or {}, h or {}
        w("| ", label_of(data, id), " | ", thousands(c.count), c.note and " ¹" or "", " | ", fmt(c.seconds, 2), " | ",
          c.rss_per_client and (c.rss_per_client >= 1048576 and fmt(c.rss_per_client / 1048576, 1) .. " MiB"
            or fmt(c.rss_per_client / 1024, 1) .. " KiB") or "–", " | ", thousands(h.count),
          " | ", fmt(h.seconds, 2), " | ", h.rss_per_channel and thousands(h.rss_per_channel) .. " B" or "–", " |")
      end
    end
    w("")
    w("¹ One Node process per SDK client: its socket is a process-wide singleton, so N clients take ",
      "N processes; the RSS is that of a whole process and the time includes starting Node.")
    w("")
  end

  local idle = b.idle
  if idle then
    w("### 5. Idle")
    w("")
    w("Connected, joined clients doing nothing for ", fmt(idle.seconds, 0), " s, measured after ",
      fmt(idle.settle, 0), " s of settling (an SDK process also until one second takes under 2 ms of ",
      "CPU: V8 keeps compiling and collecting for seconds after a start, longer on a busy machine); ",
      "getrusage of the client process: CPU and voluntary context switches, i.e. wake-ups. ",
      "Server: the bundled one (it pings every 30 s), one per contender, all contenders at once.")
    w("")
    w("| Client | clients | processes | CPU % | wake-ups/s | RSS | load (busy) |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    each(idle.results, function(id, r)
      w("| ", label_of(data, id), " | ", fmt(r.clients), " | ", fmt(r.processes), " | ", fmt(r.cpu_percent, 4), " | ",
        fmt(r.wakeups_per_s, 2), " | ", fmt(r.rss / 1048576, 1), " MiB | ", load_of(r.gate), " |")
    end)
    w("")
  end

  local st = b.storm
  if st then
    w("### 6. Reconnect storm")
    w("")
    w("All clients joined; the bundled server is killed (SIGKILL: the clients see 1006) and a new one, ",
      "loaded beforehand, listens on the same port as soon as the old one is gone. Times from the kill. \"First attempts\" are the clients' first reconnect attempts ",
      "(this library: now + the \"reconnecting\" event's payload.delay; the SDK: when it constructs its ",
      "WebSocket; raw C: when its timer fires); accepts are the new server's upgrade times.")
    w("")
    w("| Client | rejoined / clients | server back after, s | all rejoined, s | p50 rejoin, s | first attempts p10 / p50 / p90, s | σ, s | retries | peak accepts per 100 ms |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    each(st.results, function(id, r)
      w("| ", label_of(data, id), " | ", fmt(r.rejoined), " / ", fmt(r.clients), r.note and " ¹" or "", " | ",
        fmt(r.restart_gap_s, 3), " | ",
        fmt(r.all_rejoined_s, 2), " | ", fmt(r.rejoin_p50_s, 2), " | ", fmt(r.attempt_p10_s, 2), " / ",
        fmt(r.attempt_p50_s, 2), " / ", fmt(r.attempt_p90_s, 2), " | ", fmt(r.attempt_stddev_s, 3), " | ",
        fmt(r.retries), " | ", fmt(r.peak_accepts_per_100ms), " |")
    end)
    w("")
    w("¹ One Node process per SDK client. The SDK reconnects once, 1 s after the loss, and then only ",
      "when its socket fires \"close\"; Node 20's WebSocket fires only \"error\" when the connection is ",
      "refused (readyState stays CONNECTING), so an SDK client whose attempt comes before the server is ",
      "back never retries: it shows as not rejoined (its run ends at 30 s).")
    w("")
  end

  local fo = b.fanout
  if fo then
    w("### 7. Fan-out")
    w("")
    w("One sender (raw_client throughput, ", fmt(fo.window), " messages in flight) sends ", thousands(fo.messages),
      " messages to a channel of ", thousands(fo.members), " members (raw_client fanout-recv: one process, one ",
      "connection per member; each member gets every message, the sender its own echo too). Receivers and sender ",
      "on CPU 0, the server on CPU 1; the receivers' first tenth warms up and is not measured. ",
      "Server CPU per delivery: the server's CPU (schedstat) over the sender's run, divided by every frame it relayed.")
    w("")
    w("| Server | deliveries/s | server CPU µs per delivery | receivers' CPU µs per delivery | load (busy) |")
    w("|---|---:|---:|---:|---:|")
    for _, k in ipairs({ "bundled", "relay" }) do
      local r = fo.results[k]
      if r then
        w("| ", k == "bundled" and "the bundled server (bench/server.lua)" or "bench/relay_server (C)", " | ",
          thousands(r.rate), " | ", fmt(r.server_cpu_us_per_delivery, 2), " | ", fmt(r.cpu_us_per_msg, 2), " | ",
          load_of(r.gate), " |")
      end
    end
    w("")
  end

  local t = M.targets(data)
  if #t > 0 then
    w("### Targets")
    w("")
    w("| Target | measured | goal | |")
    w("|---|---|---|---|")
    for _, x in ipairs(t) do
      w("| ", x.name, " | ", x.value, " | ", x.goal, " | ", x.met and "met" or "**not met**", " |")
    end
    w("")
  end
  return table.concat(out, "\n")
end

function M.readme(root, data)
  local path = root .. "/bench/README.md"
  local f = io.open(path, "r")
  local text = f and f:read("a") or ""
  if f then f:close() end
  local begin_m, end_m = "<!-- figures:begin -->", "<!-- figures:end -->"
  local body = begin_m .. "\n" .. section(data) .. "\n" .. end_m
  local a = text:find(begin_m, 1, true)
  local _, e = text:find(end_m, 1, true)
  if a and e then
    text = text:sub(1, a - 1) .. body .. text:sub(e + 1)
  else
    text = text .. "\n## Latest figures\n\n" .. body .. "\n"
  end
  f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

-- ------------------------------------------------------------ chart

local function q(s) return '"' .. s:gsub('"', "") .. '"' end

function M.chart(root, data)
  local b = data.benchmarks or {}
  local dir = root .. "/bench/results/run.tmp"
  os.execute("mkdir -p '" .. dir .. "'")
  local files = {}
  local function write(name, rows)
    local f = assert(io.open(dir .. "/" .. name, "w"))
    for _, r in ipairs(rows) do f:write(table.concat(r, " "), "\n") end
    f:close()
    files[name] = #rows
  end
  local tp, lat = {}, {}
  local latmax = {}
  each(b.throughput and b.throughput.results, function(id, r)
    tp[#tp + 1] = { q(SHORT[id]), fmt(r.rate, 0), fmt(r.cpu_us_per_msg, 2) }
  end)
  each(b.latency and b.latency.results, function(id, r)
    if r.fixed then
      lat[#lat + 1] = { q(SHORT[id]), fmt(r.fixed.p50_us, 1), fmt(r.fixed.p99_us, 1), fmt(r.fixed.p999_us, 1) }
    end
    if r.max then
      latmax[#latmax + 1] = { q(SHORT[id] .. "\\n" .. thousands(r.max.target_rate) .. "/s"),
        fmt(r.max.p50_us, 1), fmt(r.max.p99_us, 1), fmt(r.max.p999_us, 1) }
    end
  end)
  write("tp.dat", tp)
  write("lat.dat", lat)
  write("latmax.dat", latmax)
  local png = root .. "/bench/results/latest.png"
  local gp = {
    "set terminal pngcairo size 1500,560 font 'DejaVu Sans,11'",
    "set output '" .. png .. "'",
    "set bmargin 4",
    "set format y '%.0s%c'",
    "set multiplot layout 1,3 title " .. q("lua-xano-realtime benchmarks, " .. (data.timestamp or "") ..
      ", " .. fmt((data.machine or {}).nproc) .. " × " .. tostring((data.machine or {}).cpu) ..
      (data.quick and " (quick mode)" or "")),
    "set style data histograms",
    "set style histogram clustered gap 1",
    "set style fill solid 0.85 border -1",
    "set boxwidth 0.8",
    "set grid ytics",
    "set key top left",
    "set yrange [0:*]",
    "set title 'Throughput: echoes per second (label: client CPU µs/msg)'",
    "set ylabel 'messages/s'",
    "set offsets 0,0,graph 0.12,0",
    "plot '" .. dir .. "/tp.dat' using 2:xtic(1) notitle lc rgb '#4477aa', " ..
      "'' using 0:2:(sprintf('%d/s\\n%.1f µs/msg', $2, $3)) with labels offset 0,1.6 notitle",
    "set offsets 0,0,0,0",
    "set logscale y",
    "set yrange [10:*]",
    "set format y '%.0f'",
    "set ylabel 'round trip, µs (log scale)'",
    "set key top left",
    "set title 'Round trip at 1,000 msgs/s'",
    "plot '" .. dir .. "/lat.dat' using 2:xtic(1) title 'p50' lc rgb '#66ccee', " ..
      "'' using 3 title 'p99' lc rgb '#4477aa', '' using 4 title 'p99.9' lc rgb '#223355'",
    "set title 'Round trip at the highest sustained rate'",
    "plot '" .. dir .. "/latmax.dat' using 2:xtic(1) title 'p50' lc rgb '#66ccee', " ..
      "'' using 3 title 'p99' lc rgb '#4477aa', '' using 4 title 'p99.9' lc rgb '#223355'",
    "unset multiplot",
  }
  if files["tp.dat"] == 0 or files["lat.dat"] == 0 then
    io.stderr:write("bench: no throughput or latency figures: no chart\n")
    return false
  end
  local f = assert(io.open(dir .. "/chart.gp", "w"))
  f:write(table.concat(gp, "\n"), "\n")
  f:close()
  if files["latmax.dat"] == 0 then
    -- nothing sustained: leave the third panel out rather than fail
    os.execute("sed -i '/highest sustained/,+1d' '" .. dir .. "/chart.gp'")
  end
  local ok = os.execute("gnuplot '" .. dir .. "/chart.gp'")
  if not ok then io.stderr:write("bench: gnuplot failed (see bench/results/run.tmp/chart.gp)\n") end
  return ok
end

function M.write(root, data)
  M.chart(root, data)
  M.readme(root, data)
end

return M
