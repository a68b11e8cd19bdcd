"""Face verification: quality gating, encoding, 1:1 matching and liveness."""
