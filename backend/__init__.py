"""The central approval backend: ingest, workflow, notifications, REST API."""
