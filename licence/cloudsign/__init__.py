"""Cloud signature (电子云签): per-person signing credentials the platform holds but only the
person can activate, once, for the exact hashes they approved (CSC API v2, EN 419 241 sole control).

Modules: :mod:`.totp` (RFC 4226/6238 one-time passwords), :mod:`.envelope` (PIN-bound envelope
encryption of private keys), :mod:`.errors` (CSC error codes), :mod:`.store` (SQL tables),
:mod:`.service` (authorise, signHash; the service class), :mod:`.credentials` (enrol, bindings,
info, unlock, PIN change, revoke), :mod:`.audit` (audit rows, batched onto the ledger),
:mod:`.keys` (envelope and PKCS#11 key back ends), :mod:`.oids` (algorithm identifiers),
:mod:`.remote` (CSC clients and the pyHanko remote signer for PDFs).
"""
