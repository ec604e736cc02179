-- wrk script: each request is a GET of /z<k>, with k from 1 to ZIPF_N drawn
-- from a Zipf distribution of exponent ZIPF_S, so that code z1 is the most
-- requested. bench/run.sh imports links with exactly these codes.

local n = tonumber(os.getenv("ZIPF_N") or "")
local s = tonumber(os.getenv("ZIPF_S") or "")
local cdf = {}

function init(args)
  if not n or not s or n < 1 or s <= 0 then
    error("set ZIPF_N to the number of links and ZIPF_S to the exponent")
  end
  -- cdf[k] is the chance of drawing a code at most k.
  local sum = 0
  for k = 1, n do
    sum = sum + k ^ -s
    cdf[k] = sum
  end
  for k = 1, n do
    cdf[k] = cdf[k] / sum
  end
  -- Each wrk thread has its own Lua state, so each needs its own seed.
  local address = tostring({}):match("0x(%x+)") or "0"
  math.randomseed(os.time() + tonumber(address, 16) % 1000003)
end

function request()
  local u = math.random()
  local lo, hi = 1, n
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return wrk.format("GET", "/z" .. lo)
end
