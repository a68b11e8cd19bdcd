"""Wire contract v1: topics, message models, and the catalog and other parts a configuration
bundle carries. No I/O beyond reading the starting catalog shipped here, and nothing of ours
imported."""
