"""aiovolume: asyncio-native Neuroglancer Precomputed volumes, with a CloudVolume facade."""

from .cloudvolume import CloudVolume
from .cutout import VolumeCutout
from .diskcache import CacheOptions
from .geometry import Bbox, Vec
from .objects.mesh import Mesh
from .objects.skeleton import PrecomputedSkeleton, Skeleton
from .options import Options
from .viewer.imagesave import save_images
from .volume import Volume

__all__ = ["Bbox", "CacheOptions", "CloudVolume", "Mesh", "Options", "PrecomputedSkeleton", "Skeleton", "Vec",
           "Volume", "VolumeCutout", "hyperview", "save_images", "serve", "view"]
__version__ = "0.1.0"


# the servers import aiohttp.web (~0.15 s): only when first used
_LAZY = {"view": "arrayview", "hyperview": "arrayview", "serve": "ngserve"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".viewer.{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'aiovolume' has no attribute {name!r}")
