-- Read paths. args: inputs-file threads kind
-- (free_slots | fhir_free_slots | my_appointments | agenda)
function init(args)
  lines = load_lines(args[1], tonumber(args[2]))
  kind = args[3]
  idx = 0
end

function request()
  idx = idx + 1
  local line = lines[(idx - 1) % #lines + 1]
  local patient, clinician_token, clinician, from, to = line:match("(%S+) (%S+) (%S+) (%S+) (%S+)")
  local path, token
  if kind == "free_slots" then
    path = "/api/v1/availability/?clinician=" .. clinician .. "&from=" .. from .. "&to=" .. to .. "&status=open"
    token = patient
  elseif kind == "fhir_free_slots" then
    -- the same window, clinician, patient and page size (50) as free_slots, through FHIR
    path = "/fhir/R4/Slot?schedule=Schedule/" .. clinician .. "&status=free&start=ge" .. from
      .. "&start=lt" .. to .. "&_count=50"
    token = patient
  elseif kind == "my_appointments" then
    path = "/api/v1/appointments/"
    token = patient
  else
    path = "/api/v1/clinicians/" .. clinician .. "/appointments/?from=" .. from .. "&to=" .. to
    token = clinician_token
  end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
