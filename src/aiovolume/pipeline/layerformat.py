"""The codec parameters of a scale's chunks (``ChunkFormat``) and its transport compression.

The volume layer reaches codecs only through here (import-linter's layers contract).
"""

from __future__ import annotations

from ..codecs import ChunkFormat, prepare, supported_encodings
from ..codecs.compression import resolve_compress
from ..exceptions import UnsupportedFormatError
from ..format.info import LayerInfo, ScaleInfo

__all__ = ["ChunkFormat", "chunk_format", "resolve_compress"]


def chunk_format(info: LayerInfo, scale: ScaleInfo, where: str) -> ChunkFormat:
    """What a codec needs to read and write ``scale``'s chunks; ``where`` names it in errors."""
    if scale.encoding not in supported_encodings():
        raise UnsupportedFormatError(
            f"{where} uses encoding {scale.encoding!r}, which aiovolume cannot handle yet "
            f"(supported: {', '.join(supported_encodings())})"
        )
    prepare(scale.encoding)  # e.g. compressed_segmentation's compiled decoder starts loading now
    bs = scale.compressed_segmentation_block_size
    return ChunkFormat(
        scale.encoding, info.data_type, info.num_channels, tuple(bs) if bs else None,
        scale.extra.get("jpeg_quality"), scale.extra.get("png_level"), scale.extra.get("fpzip_precision"),
    )
