"""Wire contract v1: topics and message models. No I/O, and nothing of ours imported."""
