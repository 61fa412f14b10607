"""The data standard: identifier rules, library schemas, dataset contracts, licence types. Pure."""
