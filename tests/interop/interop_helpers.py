"""Helpers shared by the interop tests (data, exact comparison, spec chunk names, tensorstore)."""

from __future__ import annotations

import itertools

import numpy as np


def make_data(shape, dtype, seed, nonzero=False):
    """Random data over the dtype's whole range (floats include NaN, +-inf, -0.0, subnormals).

    ``nonzero``: unsigned values never 0, since TensorStore does not store chunks equal to
    the fill value.
    """
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind in "ui":
        ii = np.iinfo(dt)
        low = max(ii.min, 1) if (nonzero and dt.kind == "u") else ii.min
        return rng.integers(low, ii.max, size=shape, dtype=dt, endpoint=True)
    a = (rng.standard_normal(shape) * 1e3).astype(dt)
    fi = np.finfo(dt)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, fi.tiny, fi.max, fi.min, fi.smallest_subnormal], dt)
    a.reshape(-1)[: len(specials)] = specials
    a[-1, -1, -1, -1] = np.nan  # the far corner lands in the last edge chunk
    return a


def assert_exact(actual, expected):
    """Same dtype, same shape, same bytes (NaN payloads and -0.0 included)."""
    actual = np.asarray(actual)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if actual.tobytes() != expected.tobytes():
        np.testing.assert_array_equal(actual, expected)  # gives a readable mismatch report
        raise AssertionError("arrays are equal as values but differ bitwise (NaN payload or -0.0)")


def grid_names(offset, size, chunk):
    """Unsharded chunk names per the spec (§3), computed independently of aiovolume."""
    axes = [[f"{o + b}-{o + min(b + c, s)}" for b in range(0, s, c)] for o, s, c in zip(offset, size, chunk)]
    return {"_".join(parts) for parts in itertools.product(*axes)}


def slices(offset, size):
    return tuple(slice(o, o + s) for o, s in zip(offset, size))


def local(data, offset, cut):
    """The part of ``data`` (whose origin is ``offset``) covered by the global range ``cut``."""
    return data[tuple(slice(a - o, b - o) for (a, b), o in zip(cut, offset))]


def ts_open(layer, scale_index):
    import tensorstore as ts

    return ts.open({
        "driver": "neuroglancer_precomputed",
        "kvstore": {"driver": "file", "path": str(layer)},
        "scale_index": scale_index,
    }).result()
