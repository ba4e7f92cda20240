"""Many worker processes behind one port: ``python -m server --workers N``.

- ``front_door``: the Envoy bootstrap (routes, circuit breakers, retries) and the workers' endpoints.
- ``envoy``: the Envoy process.
- ``workers``: the worker processes: started, watched, replaced, swapped on reload.
- ``control``: what the supervisor answers for all workers: health, jobs, GetStats, ReloadModels.
- ``metrics``: one /metrics for the supervisor and its workers.
- ``supervise``: puts them together.
"""
