"""The pull's error: a source or connection that cannot be read, said without a secret."""

from __future__ import annotations

from pipeline.refs import IngestError


class PullError(IngestError):
    """A pull could not proceed; the message names the dataset or connection and the problem,
    never a password or a row's values."""
