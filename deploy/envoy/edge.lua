-- Envoy's lua filter for datalid, first of the HTTP filters: the checks Envoy has no setting for.
-- Rendered by `python -m server.rest.sidecar` (server/rest/sidecar.py), which fills the dollar placeholders.
--
-- 1. An x-request-id that is not 1 to 128 of [A-Za-z0-9._:-] is replaced by a new random id, as the
--    server does for gRPC callers: the id is written into access-log lines of key=value fields
--    (Envoy's and the server's), and a space or '=' in it let a caller forge fields.
-- 2. A path (query string included) over ${MAX_PATH_BYTES} bytes is 414. Envoy only bounds all
--    headers together (431 past 60 KiB); a long path otherwise travelled on to the server in
--    x-envoy-original-path, past gRPC's metadata limit, and came back as a misleading 429.
-- 3. A server stream's response is NDJSON, one message a line: its content type says so
--    (application/x-ndjson), where the transcoder says application/json, which a client parses
--    as one document and fails on. The streams are the routes whose custom verb is one of
--    STREAM_VERBS (rendered from the protos by the sidecar).

local MAX_PATH_BYTES = ${MAX_PATH_BYTES}
local STREAM_VERBS = {${STREAM_VERBS}}
local TOO_LONG_BODY = "the request path is longer than ${MAX_PATH_BYTES} bytes"

-- Once per worker: ids differ between workers and restarts (they name calls, they guard nothing).
math.randomseed(os.time() + math.floor(os.clock() * 1000000))

local function new_request_id()
  local parts = {}
  for i = 1, 8 do
    parts[i] = string.format("%04x", math.random(0, 65535))
  end
  return table.concat(parts)
end

local function safe_request_id(id)
  -- No character outside the set (%w is ASCII letters and digits: Envoy runs Lua in the C locale).
  return #id >= 1 and #id <= 128 and string.find(id, "[^%w._:-]") == nil
end

function envoy_on_request(request)
  local headers = request:headers()
  local id = headers:get("x-request-id")
  if id ~= nil and not safe_request_id(id) then
    headers:replace("x-request-id", new_request_id())
  end
  local path = headers:get(":path")
  if path ~= nil and #path > MAX_PATH_BYTES then
    -- Plain text: the sidecar's local_reply_config makes every local reply a JSON status.
    request:respond({[":status"] = "414"}, TOO_LONG_BODY)
    return
  end
  if path ~= nil then
    local verb = string.match(path, "(:[%w]+)$$") or string.match(path, "(:[%w]+)%?")
    if verb ~= nil and STREAM_VERBS[verb] then
      request:streamInfo():dynamicMetadata():set("datalid", "stream", true)
    end
  end
end

function envoy_on_response(response)
  local datalid = response:streamInfo():dynamicMetadata():get("datalid")
  local content_type = response:headers():get("content-type")
  if datalid ~= nil and datalid["stream"] and content_type == "application/json" then
    response:headers():replace("content-type", "application/x-ndjson")
  end
end
