"""numpy views of Arrow arrays, as the engine's rules read them: masks and the bytes of text.

A rule's verdict is a numpy mask (:func:`numpy_mask`: nulls never fail); reading a string array's
offsets and data buffers directly (:func:`string_data`, :func:`fixed_width`) lets numpy look
at every character position at once where a regex per value would cost far more.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from quality.results import Mask


def numpy_mask(mask: pa.Array | pa.ChunkedArray) -> Mask:
    """A boolean Arrow array as numpy, nulls counted as False (a null never fails a rule)."""
    filled = pc.fill_null(mask, False)
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


def present_mask(arr: pa.Array) -> Mask:
    return numpy_mask(pc.is_valid(arr))


def fixed_width(text: pa.Array, width: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """Rows whose value is exactly ``width`` bytes, and those values as a (rows, width) matrix.

    Reading the Arrow data buffer directly lets numpy check every character position at once.
    """
    fits = numpy_mask(pc.equal(pc.binary_length(text), width))
    idx = np.flatnonzero(fits)
    if not len(idx):
        return idx, np.zeros((0, width), dtype=np.uint8)
    sub = text.take(pa.array(idx))
    offsets = np.frombuffer(sub.buffers()[1], dtype=np.int32)
    start = int(offsets[sub.offset])
    data = np.frombuffer(sub.buffers()[2], dtype=np.uint8)[start : start + width * len(idx)]
    return idx, data.reshape(len(idx), width)


def string_data(
    text: pa.Array,
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]:
    """The offsets and data bytes of a string array (a zero-copy view)."""
    n = len(text)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32, count=n + 1, offset=4 * text.offset)
    data = text.buffers()[2]
    buf = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    return offsets, buf
