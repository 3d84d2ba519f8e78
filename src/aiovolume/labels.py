"""Label operations behind ``download(segids=, preserve_zeros=, renumber=, label=)`` and ``unique``.

Pure array functions; none changes its input (CloudVolume's ``segids`` path appends 0 to the
caller's list and masks in place). Unsigned images (segmentation) go through fastremap
(hash-based, one pass, what CloudVolume uses); other dtypes through numpy (fastremap 1.21's
``unique`` aborts the process on a full-range int8 image, and its ``renumber`` wraps past 127).

    >>> img = np.array([[[5, 0], [7, 9]]], dtype=np.uint64)
    >>> mask_except(img, [5]).ravel().tolist()
    [5, 0, 0, 0]
"""

from __future__ import annotations

from typing import Any, Iterable

import fastremap
import numpy as np

from .exceptions import DtypeError

# CloudVolume renders renumbered labels into a uint16 buffer and widens it when they outgrow it
_RENUMBER_DTYPES = (np.uint16, np.uint32, np.uint64)


def mask_value(dtype: np.dtype, preserve_zeros: bool) -> Any:
    """What masked voxels become: 0, or with ``preserve_zeros`` the dtype's largest value (inf for floats)."""
    if not preserve_zeros:
        return 0
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        return np.iinfo(dtype).max
    if dtype.kind == "f":
        return np.inf
    return True


def mask_except(img: np.ndarray, segids: Iterable[Any], preserve_zeros: bool = False) -> np.ndarray:
    """A copy of ``img`` where every label not in ``segids`` is masked (see :func:`mask_value`);
    with ``preserve_zeros`` 0 is kept as 0 too."""
    keep = [v for v in segids]
    if preserve_zeros:
        keep.append(0)
    value = mask_value(img.dtype, preserve_zeros)
    if img.dtype.kind == "u" and img.size:
        out = fastremap.mask_except(np.asarray(img), keep, in_place=False, value=value)
        return np.asarray(out, dtype=img.dtype)
    return np.where(np.isin(img, np.asarray(keep, dtype=img.dtype)), img, np.asarray(value, dtype=img.dtype))


def renumber(img: np.ndarray) -> tuple[np.ndarray, dict[Any, int]]:
    """``(relabelled, mapping)``: labels renumbered 1, 2, 3, ... with 0 kept as 0.

    ``mapping`` goes from original label to new label (``{original: new}``, as fastremap and
    CloudVolume return it) and always holds ``0: 0``, as CloudVolume's does. The output dtype is
    uint16, or uint32/uint64 when more labels need it (CloudVolume's rule, never smaller than
    uint16); new labels are given in ascending order of the original ones (CloudVolume's order
    depends on which chunk arrived first).
    """
    if img.dtype.kind not in "biuf":
        raise DtypeError(f"renumber needs a numeric image, got {img.dtype}")
    src = np.asarray(img)
    if src.dtype.kind == "b":
        src = src.view(np.uint8)
    uniq = fastremap.unique(src) if src.dtype.kind == "u" else np.unique(src)
    uniq = uniq.tolist()
    nonzero = [v for v in uniq if v != 0]
    mapping: dict[Any, int] = {0: 0}
    mapping.update((v, n) for n, v in enumerate(nonzero, start=1))
    out_dtype = next(d for d in _RENUMBER_DTYPES if len(nonzero) <= np.iinfo(d).max)
    if src.dtype.kind == "u":  # new labels never exceed the old dtype's range: remap in it
        out = fastremap.remap(src, mapping, preserve_missing_labels=True, in_place=False)
        return np.asarray(out).astype(out_dtype, copy=False), mapping
    # signed and float images: look each voxel up in the sorted labels
    keys = np.asarray(uniq, dtype=src.dtype)
    values = np.asarray([mapping[k] for k in uniq], dtype=out_dtype)
    return values[np.searchsorted(keys, src)], mapping


def label_image(img: np.ndarray, label: Any) -> np.ndarray:
    """Boolean image: True where ``img == label``."""
    return np.asarray(img) == label


def unique_labels(img: np.ndarray) -> set[Any]:
    """The distinct values of ``img`` as a set of Python numbers."""
    if img.size == 0:
        return set()
    if img.dtype.kind == "u":
        return set(fastremap.unique(np.asarray(img)).tolist())
    return set(np.unique(img).tolist())
