"""aiovolume: asyncio-native Neuroglancer Precomputed volumes, with a CloudVolume facade."""

from .cloudvolume import CloudVolume
from .cutout import VolumeCutout
from .diskcache import CacheOptions
from .geometry import Bbox, Vec
from .objects.mesh import Mesh
from .objects.skeleton import PrecomputedSkeleton, Skeleton
from .options import Options
from .viewer.arrayview import hyperview, view
from .viewer.imagesave import save_images
from .viewer.ngserve import serve
from .volume import Volume

__all__ = ["Bbox", "CacheOptions", "CloudVolume", "Mesh", "Options", "PrecomputedSkeleton", "Skeleton", "Vec",
           "Volume", "VolumeCutout", "hyperview", "save_images", "serve", "view"]
__version__ = "0.1.0"
