"""Command groups of the hub command line, one module each, imported lazily."""
