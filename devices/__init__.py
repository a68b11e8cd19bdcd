"""One port per physical device, with real drivers and wire-level emulators."""
