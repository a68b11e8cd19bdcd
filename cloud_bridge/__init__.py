"""The terminal's link to the backend: MQTT session, durable outbox, blob transfer, commands."""
