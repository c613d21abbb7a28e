-- POST /api/v1/appointments/{id}/cancel/ : one line of "token appointment_id" per request.
-- args: inputs-file threads [first line offset per thread]
function init(args)
  lines = load_lines(args[1], tonumber(args[2]))
  idx = tonumber(args[3] or "0")
end

function request()
  idx = idx + 1
  if idx > #lines then wrapped = wrapped + 1 end
  local line = lines[(idx - 1) % #lines + 1]
  local token, appointment = line:match("(%S+) (%S+)")
  return wrk.format("POST", "/api/v1/appointments/" .. appointment .. "/cancel/", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, "{}")
end
