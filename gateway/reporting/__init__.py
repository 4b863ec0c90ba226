"""Replica reporting: each replica publishes what it serves and what it refused (ACK/NACK).

    report.py     the report's wire format and blob name (``status/replicas/<replica-id>.json``)
    reporter.py   the background task that publishes it on every change and on a heartbeat
    blob.py       the Blob Storage writer (and the release-creation lookup for propagation latency)
    wiring.py     which reporter a runtime gets, from its settings

The operator CLI (``genai-gateway status`` / ``push --wait``) reads these blobs.
Why Blob Storage with an ABAC condition: docs/operations.md ("Where replicas report").
"""
