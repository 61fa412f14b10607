"""Persistence adapters: the object store, the SQL stores and the key store."""
