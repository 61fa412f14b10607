"""The ingest pipeline room (see pipeline.ingest)."""
