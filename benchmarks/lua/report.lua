-- Shared by every scenario: per-thread status counts, one JSON line at the end.
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

statuses = {}
wrapped = 0

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function load_lines(path, nthreads)
  local lines, i = {}, 0
  for line in io.lines(path) do
    if i % nthreads == tid then table.insert(lines, line) end
    i = i + 1
  end
  return lines
end

function done(summary, latency, requests)
  local agg, total_wrapped = {}, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do
      agg[tostring(k)] = (agg[tostring(k)] or 0) + v
    end
    total_wrapped = total_wrapped + (t:get("wrapped") or 0)
  end
  local parts = {}
  for k, v in pairs(agg) do table.insert(parts, string.format('"%s": %d', k, v)) end
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, ' ..
    '"p99_us": %d, "mean_us": %.1f, "wrapped": %d, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "timeout": %d, "status": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.mean, total_wrapped, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout, summary.errors.status,
    table.concat(parts, ", ")))
end
