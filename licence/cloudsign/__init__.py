"""Cloud signature (电子云签): per-person signing credentials the platform holds but only the
person can activate, once, for the exact hashes they approved (CSC API v2, EN 419 241 sole control).

Modules: :mod:`.totp` (RFC 4226/6238 one-time passwords), :mod:`.envelope` (PIN-bound envelope
encryption of private keys), :mod:`.errors` (CSC error codes), :mod:`.store` (SQL tables),
:mod:`.service` (enrol, authorise, signHash, audit), :mod:`.remote` (CSC clients and the pyHanko
remote signer for PDFs).
"""
