"""The HTTP service (FastAPI): sharing API, licence API, verification portal, catalogue pages."""
