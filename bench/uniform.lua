-- wrk script: each request is a GET of /u<k>, with k drawn uniformly from
-- 1 to UNIFORM_N. bench/cluster.sh imports links with exactly these codes.

local n = tonumber(os.getenv("UNIFORM_N") or "")

function init(args)
  if not n or n < 1 then
    error("set UNIFORM_N to the number of links")
  end
  -- Each wrk thread has its own Lua state, so each needs its own seed.
  local address = tostring({}):match("0x(%x+)") or "0"
  math.randomseed(os.time() + tonumber(address, 16) % 1000003)
end

function request()
  return wrk.format("GET", "/u" .. math.random(n))
end
