"""Refusals of the cloud-signature service, each with a CSC-style error code and HTTP status.

Every refusal is specific so a citizen (or an auditor reading the log) knows what happened and
what to do; none of them leaves a signature behind.
"""

from __future__ import annotations


class CloudSignError(Exception):
    """Base of all refusals; ``code`` is the CSC ``error`` value, ``status`` the HTTP status."""

    code = "invalid_request"
    status = 400


class InvalidRequestError(CloudSignError):
    """A parameter is missing or malformed (hash length, algorithm OID, batch size)."""


class UnknownCredentialError(CloudSignError):
    code = "invalid_request"
    status = 404


class NotInLibraryError(CloudSignError):
    """Credentials are issued only to persons of the population library."""

    code = "invalid_request"
    status = 404


class WrongPINError(CloudSignError):
    code = "invalid_pin"
    status = 401


class WrongOTPError(CloudSignError):
    code = "invalid_otp"
    status = 401


class CredentialLockedError(CloudSignError):
    code = "credential_locked"
    status = 403


class MissingSADError(CloudSignError):
    code = "invalid_request"
    status = 400


class InvalidSADError(CloudSignError):
    """The SAD is unknown (never issued, or forged)."""

    code = "invalid_sad"
    status = 400


class SADReusedError(CloudSignError):
    code = "sad_used"
    status = 400


class SADExpiredError(CloudSignError):
    code = "sad_expired"
    status = 400


class HashNotAuthorisedError(CloudSignError):
    """The hashes presented are not exactly those the SAD was issued for."""

    code = "invalid_hash"
    status = 400


class KeyUnavailableError(CloudSignError):
    """The private key cannot be unlocked: wrong activation material (no PIN, forged SAD)."""

    code = "key_unavailable"
    status = 403


class HashAlgorithmMismatchError(InvalidRequestError):
    """The hash (or signature) algorithm does not fit the credential's key: SM3 for SM2 keys,
    SHA-256 for ECDSA P-256 keys."""

    code = "invalid_request"
    status = 400


class KeyAlgorithmNotSupportedError(CloudSignError):
    """This back end or operation cannot use the key algorithm (SM2 in PKCS#11 or PAdES)."""

    code = "invalid_request"
    status = 400
