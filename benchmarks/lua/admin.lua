-- An admin change list, as a logged-in staff member reads it. args: cookie-file path
-- (one line "sessionid=…", written by benchmarks/grow.py), the change list's path.
function init(args)
  local file = io.open(args[1])
  cookie = file:read("*l")
  file:close()
  path = args[2]
end

function request()
  return wrk.format("GET", path, {["Cookie"] = cookie})
end
