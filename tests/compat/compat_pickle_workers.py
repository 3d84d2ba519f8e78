"""Functions the pickling tests run in child processes (a plain module, so spawned children import
it without importing pytest's test module)."""

from __future__ import annotations

import os

import numpy as np

# set by the parent before a fork: a volume the forked children inherit without pickling
INHERITED: dict[str, object] = {}


def pattern(lo, shape, seed):
    """The values a child writes into the region starting at ``lo``: depend on the region only."""
    z = np.indices(shape).sum(axis=0) + sum(lo) * 7 + seed
    return (z % 251).astype(np.uint8)


def read_region(vol, lo, hi):
    """``vol[lo:hi]`` as a plain array, with the pid of the process that read it."""
    img = vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    return os.getpid(), np.asarray(img).copy()


def write_region(vol, lo, hi, seed):
    shape = tuple(b - a for a, b in zip(lo, hi))
    vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = pattern(lo, shape, seed)
    return os.getpid()


def read_inherited(lo, hi):
    return read_region(INHERITED["vol"], lo, hi)


def state_of(vol):
    """What an unpickled volume looks like in the child, before and after its first read."""
    before = vol._vol._store is None
    pid, img = read_region(vol, (0, 0, 0), (8, 8, 4))
    return {"pid": pid, "store_was_closed": before, "mip": vol.mip, "fill_missing": vol.fill_missing,
            "bounded": vol.bounded, "lru_bytes": vol.lru.max_bytes if vol.lru else 0, "info": vol.info,
            "sum": int(img.sum())}
