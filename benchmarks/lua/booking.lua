-- POST /api/v1/appointments/ : one line of "token slot key" per request.
-- args: inputs-file threads [fixed-slot or "-"] [first line offset per thread]
function init(args)
  lines = load_lines(args[1], tonumber(args[2]))
  if args[3] ~= nil and args[3] ~= "-" then fixed_slot = args[3] end
  idx = tonumber(args[4] or "0")
end

function request()
  idx = idx + 1
  local line = lines[(idx - 1) % #lines + 1]
  local token, slot, key = line:match("(%S+) (%S+) (%S+)")
  if fixed_slot then
    slot = fixed_slot
    key = "hot-" .. key .. "-" .. idx
  elseif idx > #lines then
    wrapped = wrapped + 1
    key = key .. "-again-" .. idx
  end
  return wrk.format("POST", "/api/v1/appointments/", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key,
  }, '{"slot": ' .. slot .. ', "reason": "benchmark"}')
end
