-- POST /api/v1/appointment-series/ : one line of "token first-slot key" per request; each
-- books `count` weekly occurrences (on_conflict=fail: a taken one books nothing, 409).
-- args: inputs-file threads [count]
function init(args)
  lines = load_lines(args[1], tonumber(args[2]))
  count = args[3] or "4"
  idx = 0
end

function request()
  idx = idx + 1
  local line = lines[(idx - 1) % #lines + 1]
  local token, slot, key = line:match("(%S+) (%S+) (%S+)")
  if idx > #lines then
    wrapped = wrapped + 1
    key = key .. "-again-" .. idx
  end
  return wrk.format("POST", "/api/v1/appointment-series/", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key,
  }, '{"slot": ' .. slot .. ', "interval": 1, "count": ' .. count ..
     ', "on_conflict": "fail", "reason": "benchmark"}')
end
