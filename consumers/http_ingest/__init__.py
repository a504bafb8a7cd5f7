"""The HTTP ingest for one-stop software that cannot reach Kafka (``motcua http``):
:mod:`.app` (the ASGI application, docs/contract.md "Transport bindings"), :mod:`.contract`
(its limits and OpenAPI description), :mod:`.tokens` (bearer tokens stored as hashes),
:mod:`.publisher` (the idempotent producer behind it) and :mod:`.server` (uvicorn)."""
