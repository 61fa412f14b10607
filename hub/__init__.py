"""Composition root: settings, the hub command line, wiring of back ends."""
