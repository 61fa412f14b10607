"""Persistence adapters: the object store, the SQL stores and the key store.

Where the hub keeps things: raw files and quarantine Parquet in the object store (a local
folder or MinIO/S3), the SQL stores built on the one engine factory (the libraries, the
ledger's tables), and private keys in encrypted files or a PKCS#11 token. Adapters only: no
domain rule lives here, and each takes plain configuration values, never the hub's settings.
Imports only ``schemas``.

Public surface: ``engine``, ``objects``, ``library`` (a package), ``ledger_store``, ``keys``,
``pkcs11``.
"""
