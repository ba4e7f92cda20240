"""REST through Envoy: the sidecar that runs it, the strict JSON check, the OpenAPI document and
the web page."""
