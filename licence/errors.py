"""Why a licence operation was refused: one exception per cause, under ``LicenceError``."""

from __future__ import annotations


class LicenceError(Exception):
    """Base class: a licence operation was refused; nothing was issued or logged."""


class UnknownTypeError(LicenceError):
    pass


class NotAllowedError(LicenceError):
    pass


class NoActiveSealError(LicenceError):
    pass


class HolderError(LicenceError):
    pass


class InvalidFieldsError(LicenceError):
    pass


class LicenceNotFoundError(LicenceError):
    pass


class LifecycleError(LicenceError):
    """The requested transition is not possible from the licence's current status."""
