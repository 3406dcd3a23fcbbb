-- make mutants: applies each deliberate breakage of tools/mutants/list.lua
-- to a scratch copy of the tree (build/mutants/<id>), rebuilds the C core
-- there when C was changed, runs the specs that should catch it, and says
-- which mutants survive.  Exits non-zero when one survives, or when a
-- mutant cannot be applied (its search text is not found exactly once in
-- its file: the list no longer matches the code, which is an error, never
-- a skip).
--
-- Environment (the Makefile passes its variables of the same names):
--   MUTANTS_SAMPLE=N   run N mutants picked by the seed (0 or unset: all)
--   MUTANTS_SEED=S     the seed of the pick (default: the clock; printed)
--   MUTANTS=a,b        run these mutants only (by id)
--   MUTANTS_TIMEOUT=T  seconds per mutant (default 120, or the mutant's own
--                      `timeout` when lower); a mutant whose specs hang past
--                      it counts as killed ("timeout")
--   MUTANTS_BASELINE=1 first run the chosen specs on an unmutated copy:
--                      a spec that fails there makes the run an error
--   XRT_LUA            the interpreter of the specs (default lua5.4)
local LIST = "tools/mutants/list.lua"
local BASE_BUILD = "build/5.4"
local ROOT = assert(io.popen("pwd")):read("l")
local WORK = ROOT .. "/build/mutants"

local lua = os.getenv("XRT_LUA") or "lua5.4"
local busted = os.getenv("BUSTED") or "/usr/bin/busted"
local timeout = tonumber(os.getenv("MUTANTS_TIMEOUT")) or 120
local sample = tonumber(os.getenv("MUTANTS_SAMPLE")) or 0
local seed = tonumber(os.getenv("MUTANTS_SEED")) or os.time()
local only = os.getenv("MUTANTS") or ""
local baseline = (os.getenv("MUTANTS_BASELINE") or "") ~= "" and os.getenv("MUTANTS_BASELINE") ~= "0"

local function sh(cmd)
  local ok, how, code = os.execute(cmd)
  if type(ok) == "number" then return ok == 0, ok end -- Lua 5.1
  return ok == true, how == "exit" and code or 128 + (code or 0)
end

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function now()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

-- occurrences of plain text s in text
local function count(text, s)
  local n, at = 0, 1
  while true do
    local i, j = text:find(s, at, true)
    if not i then return n end
    n, at = n + 1, j + 1
  end
end

local list = dofile(LIST)
local errors, by_id = {}, {}

-- Every mutant of the list is checked, run or not: a search text that no
-- longer matches its file is reported even when the sample leaves it out.
for i, m in ipairs(list) do
  local where = ("mutant %s (#%d)"):format(tostring(m.id), i)
  if type(m.id) ~= "string" or by_id[m.id] then
    errors[#errors + 1] = where .. ": missing or repeated id"
  end
  by_id[m.id or i] = m
  for _, k in ipairs({ "file", "search", "replace", "behaviour" }) do
    if type(m[k]) ~= "string" then errors[#errors + 1] = where .. ": no " .. k end
  end
  if type(m.specs) ~= "table" or #m.specs == 0 then
    errors[#errors + 1] = where .. ": no specs"
  else
    for _, s in ipairs(m.specs) do
      if not io.open(s, "r") then errors[#errors + 1] = where .. ": no spec file " .. s end
    end
  end
  if type(m.file) == "string" and type(m.search) == "string" then
    local ok, text = pcall(read, m.file)
    if not ok then
      errors[#errors + 1] = where .. ": cannot read " .. m.file
    else
      local n = count(text, m.search)
      if n ~= 1 then
        errors[#errors + 1] = ("%s: its search text occurs %d times in %s (exactly 1 expected): %q")
          :format(where, n, m.file, m.search)
      elseif m.search == m.replace then
        errors[#errors + 1] = where .. ": the replacement changes nothing"
      end
    end
  end
end

-- which mutants run
local chosen = {}
if only ~= "" then
  for id in only:gmatch("[^,%s]+") do
    if by_id[id] then chosen[#chosen + 1] = by_id[id]
    else errors[#errors + 1] = "MUTANTS names an unknown mutant: " .. id end
  end
else
  for i = 1, #list do chosen[i] = list[i] end
  if sample > 0 and sample < #chosen then
    math.randomseed(seed)
    for i = #chosen, 2, -1 do
      local j = math.random(i)
      chosen[i], chosen[j] = chosen[j], chosen[i]
    end
    for i = #chosen, sample + 1, -1 do chosen[i] = nil end
    table.sort(chosen, function(a, b) return a.id < b.id end)
  end
end

if sample > 0 and only == "" and sample < #list then
  print(("mutants: %d listed; running %d picked by seed %d (the same ones again: make mutants MUTANTS_SAMPLE=%d MUTANTS_SEED=%d)")
    :format(#list, #chosen, seed, sample, seed))
else
  print(("mutants: %d listed; running %d"):format(#list, #chosen))
end

if #errors > 0 then
  for _, e in ipairs(errors) do print("mutants: ERROR " .. e) end
  print(("mutants: 0 killed, 0 survived, %d errors (the list does not match the code)"):format(#errors))
  os.exit(2)
end

assert(io.open(BASE_BUILD .. "/xano/realtime/core.so", "r"), "no " .. BASE_BUILD .. ": run make first")

-- A scratch copy of the working tree (uncommitted edits included) with the
-- Lua 5.4 build, timestamps kept, so that make rebuilds only what a mutant
-- touched.
local function copy_tree(dir)
  assert(sh("rm -rf " .. q(dir) .. " && mkdir -p " .. q(dir .. "/build")))
  assert(sh(("tar --exclude=./build --exclude=./.git --exclude=./.cache -cf - . | tar -xf - -C %s"):format(q(dir))),
    "copy to " .. dir)
  assert(sh(("cp -a %s %s"):format(q(BASE_BUILD), q(dir .. "/build/"))), "copy of the build")
end

local function run_specs(dir, specs, log, limit)
  -- --no-keep-going: one failure is enough to kill a mutant, and the
  -- waits of the specs that would fail after it are not worth their time
  local cmd = ("cd %s && XRT_BUILD=%s XRT_LUA=%s timeout -k 10 %d %s %s --no-keep-going %s >%s 2>&1"):format(
    q(dir), BASE_BUILD, lua, limit or timeout, lua, busted, table.concat(specs, " "), q(log))
  local t0 = now()
  local ok, rc = sh(cmd)
  return ok, rc, now() - t0
end

local function summary_of(log)
  local ok, text = pcall(read, log)
  if not ok then return "no log" end
  local line
  for l in text:gmatch("[^\n]+") do
    if l:match("^%d+ passed, %d+ failed$") then line = l end
  end
  return line or "no closing line"
end

local t_start = now()
local killed, survived, failed = {}, {}, {}

if baseline then
  local specs, seen = {}, {}
  for _, m in ipairs(chosen) do
    for _, s in ipairs(m.specs) do
      if not seen[s] then seen[s] = true; specs[#specs + 1] = s end
    end
  end
  table.sort(specs)
  local dir = WORK .. "/baseline"
  copy_tree(dir)
  local ok, _, took = run_specs(dir, specs, WORK .. "/baseline.log")
  print(("mutants: baseline (no mutant) %s in %.0f s: %s"):format(ok and "passed" or "FAILED", took,
    summary_of(WORK .. "/baseline.log")))
  if not ok then
    print("mutants: the specs fail without a mutant (" .. WORK .. "/baseline.log); nothing to judge")
    os.exit(2)
  end
  sh("rm -rf " .. q(dir))
end

for n, m in ipairs(chosen) do
  local dir = WORK .. "/" .. m.id
  copy_tree(dir)
  local path = dir .. "/" .. m.file
  local text = read(path)
  local i, j = text:find(m.search, 1, true)
  write(path, text:sub(1, i - 1) .. m.replace .. text:sub(j + 1))
  local log = dir .. ".log"
  local state, detail, took
  if m.file:match("^src/") then
    local ok = sh(("make -C %s --no-print-directory LUA=lua5.4 BUILD=%s all >%s 2>&1"):format(q(dir), BASE_BUILD, q(log .. ".build")))
    if not ok then
      state, detail, took = "error", "the mutated C does not build (" .. log .. ".build)", 0
    end
  end
  if not state then
    local limit = math.min(timeout, m.timeout or timeout)
    local ok, rc, t = run_specs(dir, m.specs, log, limit)
    took = t
    if not io.open(log, "r") then
      state, detail = "error", "the specs did not run (no log " .. log .. ")"
    elseif ok then
      state, detail = "SURVIVED", summary_of(log)
    elseif rc == 124 or rc == 137 then
      state, detail = "killed", "timeout after " .. limit .. " s"
    else
      state, detail = "killed", summary_of(log)
    end
  end
  print(("mutants: [%d/%d] %-4s %-8s %5.1f s  %s  (%s: %s)"):format(n, #chosen, m.id, state, took,
    detail, m.file, m.behaviour))
  if state == "killed" then
    killed[#killed + 1] = m
    sh("rm -rf " .. q(dir))
  elseif state == "SURVIVED" then
    survived[#survived + 1] = m
    print("mutants:        not caught by " .. table.concat(m.specs, " ") .. " (log: " .. log .. ")")
  else
    failed[#failed + 1] = m
  end
end

local took = now() - t_start
if #survived > 0 then
  local ids = {}
  for _, m in ipairs(survived) do ids[#ids + 1] = m.id end
  print("mutants: survivors: " .. table.concat(ids, ", "))
end
print(("mutants: %d killed, %d survived, %d errors of %d run (%d listed; seed %d) in %.0f s")
  :format(#killed, #survived, #failed, #chosen, #list, seed, took))
os.exit((#survived == 0 and #failed == 0) and 0 or 1)
