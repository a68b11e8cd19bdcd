"""Identity-document readers: the port, drivers and emulators."""
