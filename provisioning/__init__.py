"""Terminal enrollment: keys, certificates, one-time tokens, configuration bundles."""
