"""In-memory objects of a layer (skeletons; meshes), independent of storage."""

from .skeleton import PrecomputedSkeleton, Skeleton

__all__ = ["PrecomputedSkeleton", "Skeleton"]
