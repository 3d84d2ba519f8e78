"""``from_cloudvolume`` and ``to_cloudvolume``: CloudVolume's ``cloudvolume.dask``, on aiovolume.

Arrays are ``(x, y, z, channel)`` (3-D arrays are written as one channel), indices 0-based from
the layer's voxel_offset. See :mod:`aiovolume.daskarray` for how blocks are read and written in
dask's workers.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..daskarray import VolumeArray, check_write_blocks, write_unit
from ..exceptions import DimensionError
from ..format.info import create_new_info
from ..fromnumpy import infer_layer_type
from ..sync import run
from ..volume import Volume

__all__ = ["from_cloudvolume", "to_cloudvolume"]


def from_cloudvolume(cloudpath: str, chunks: Any = None, name: str | None = None, **kwargs: Any) -> Any:
    """The layer at ``cloudpath`` as a lazy ``dask.array`` ``(x, y, z, channel)``, 0-based from its
    voxel_offset. ``chunks`` defaults to the storage chunk size with all channels in one block;
    ``kwargs`` go to :class:`aiovolume.Volume` (``mip=``, ``fill_missing=``, ``secrets=`` ...).

    >>> arr = from_cloudvolume("gs://bucket/ds/image", mip=1)        # doctest: +SKIP
    >>> arr.max().compute()                                            # doctest: +SKIP
    """
    from dask.base import tokenize

    kwargs.setdefault("progress", False)
    vol = run(Volume.open(cloudpath, **kwargs))
    try:
        if name is None:
            name = "from-cloudvolume-" + tokenize(vol.cloudpath, vol.mip, vol.info, chunks)
        return vol.to_dask(chunks, name)
    finally:
        run(vol.close())


def to_cloudvolume(arr: Any, cloudpath: str, resolution: Sequence[float] = (1, 1, 1),
                   voxel_offset: Sequence[int] = (0, 0, 0), layer_type: str | None = None,
                   encoding: str = "raw", max_mip: int = 0, compute: bool = True, return_stored: bool = False,
                   **kwargs: Any) -> Any:
    """Write a 3-D or 4-D dask array as a new layer at ``cloudpath`` (CloudVolume's signature and
    defaults): the info is created from the array (storage chunks = ``arr.chunksize``, or
    ``chunk_size=`` if given), committed, and every block stored by its own task, lock-free.

    Before anything is written, the block layout is checked on the client: every block boundary
    must fall on the storage chunk grid (the last block of an axis may be short), and each block
    must hold all channels; otherwise AlignmentError says how to ``arr.rechunk(...)``.
    (CloudVolume refuses only irregular blocks, with a ValueError, and writes nothing right when
    ``voxel_offset`` is not zero; here the array's index 0 lands at ``voxel_offset``.)
    ``kwargs`` go to :class:`aiovolume.Volume` (``compress=``, ``secrets=`` ...).
    Returns what ``dask.array.store`` returns for ``compute`` and ``return_stored``.

    >>> to_cloudvolume(arr.rechunk((128, 128, 64)), "file:///data/out", resolution=(8, 8, 40))  # doctest: +SKIP
    """
    import dask.array as da

    chunk_size = kwargs.pop("chunk_size", None)
    if arr.ndim not in (3, 4):
        raise DimensionError(f"to_cloudvolume: a volume is a 3-D or 4-D array; this one has {arr.ndim} dimensions")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if layer_type is None:
        layer_type = infer_layer_type(arr.dtype)
    num_channels = 1 if arr.ndim == 3 else int(arr.shape[3])
    if chunk_size is None:
        chunk_size = tuple(int(c) for c in arr.chunksize[:3])
    info = create_new_info(num_channels, layer_type, arr.dtype.name, encoding, resolution, voxel_offset,
                           tuple(int(s) for s in arr.shape[:3]), chunk_size=chunk_size, max_mip=max_mip)
    kwargs.setdefault("progress", False)
    vol = run(Volume.open(cloudpath, info=info, **kwargs))
    try:
        unit, what = write_unit(vol, vol.mip)
        check_write_blocks(arr.chunks, arr.shape, unit, what, f"to_cloudvolume({vol.cloudpath})")
        run(vol.commit_info())
        provenance = dict(run(vol.refresh_provenance()))
        provenance["processing"] = [{"method": "aiovolume.dask.to_cloudvolume"}]  # as CloudVolume's
        vol.provenance = provenance
        run(vol.commit_provenance())
        target = VolumeArray(vol, vol.mip, ndim=arr.ndim)
    finally:
        run(vol.close())
    return da.store(arr, target, lock=False, compute=compute, return_stored=return_stored)
