"""Composition root: the `allhours` command line and the wiring of real or emulated parts."""
