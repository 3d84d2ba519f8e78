"""Every encoding x dtype x channel count round-trips through encode/decode, edge-clipped chunks included;
the byte layouts match the spec's test vectors; bad input to the encoders is refused."""

from __future__ import annotations

import importlib

import imagecodecs
import numpy as np
import pytest

from aiovolume.codecs import ChunkFormat, decode_chunk, encode_chunk, needs_isolation, supported_encodings
from aiovolume.exceptions import DecodingError, EncodingError, UnsupportedFormatError
from aiovolume.options import Options
from aiovolume.pipeline.schedule import choose_mode

SHAPES = [(32, 32, 16), (13, 32, 5), (1, 1, 1), (37, 64, 5)]
COMBOS = (
    [("jpeg", "uint8", c) for c in (1, 3)]
    + [("png", dt, c) for dt in ("uint8", "uint16") for c in (1, 2, 3, 4)]
    + [("compressed_segmentation", dt, c) for dt in ("uint32", "uint64") for c in (1, 3)]
    + [(enc, dt, c) for enc in ("fpzip", "kempressed") for dt in ("float32", "float64") for c in (1, 3)]
    + [(enc, dt, 1) for enc in ("compresso", "crackle") for dt in ("uint8", "uint16", "uint32", "uint64")]
    + [("raw", dt, c) for dt in ("uint8", "int16", "float64") for c in (1, 3)]
)


def sample(encoding: str, dtype: str, shape, channels: int, seed: int = 0) -> np.ndarray:
    """Realistic content per kind: smooth images, blob labels, smooth floats with a few specials."""
    rng = np.random.default_rng(seed)
    full = (*shape, channels)
    dt = np.dtype(dtype)
    grids = np.meshgrid(*[np.arange(s) for s in full], indexing="ij")
    if encoding in ("compressed_segmentation", "compresso", "crackle"):
        x, y, z, c = grids
        labels = ((x // 7 + 5 * (y // 9) + 50 * (z // 3) + 1000 * c + rng.integers(0, 2, full)) % 251).astype(dt)
        labels[0, 0, 0, 0] = np.iinfo(dt).max  # the largest label survives
        return np.asfortranarray(labels)
    if dt.kind == "f":
        a = np.cumsum(rng.normal(0, 1, full), axis=0) * 10
        a.reshape(-1)[:4] = [0.0, -0.0, 1e-30, -3.5e9][: a.size]
        return np.asfortranarray(a.astype(dt))
    if encoding == "jpeg":  # smooth, so quality 100 is near exact
        return np.asfortranarray((64 + 2 * grids[0] + grids[1] + 3 * grids[2] + 40 * grids[3]).clip(0, 255).astype(dt))
    hi = np.iinfo(dt).max
    return np.asfortranarray(rng.integers(0, hi, full, endpoint=True, dtype=dt))


def fmt_for(encoding, dtype, channels, **kw):
    if encoding == "compressed_segmentation":
        kw.setdefault("block_size", (8, 8, 8))
    return ChunkFormat(encoding, dtype, channels, **kw)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("encoding,dtype,channels", COMBOS)
def test_round_trip(encoding, dtype, channels, shape):
    data = sample(encoding, dtype, shape, channels)
    fmt = fmt_for(encoding, dtype, channels, quality=100)
    blob = encode_chunk(data, fmt)
    assert isinstance(blob, bytes)
    out = decode_chunk(blob, fmt, shape)
    assert out.shape == (*shape, channels) and out.dtype == np.dtype(dtype)
    if encoding == "jpeg":
        assert np.abs(out.astype(int) - data).max() <= 8
    elif encoding == "kempressed":  # CloudVolume's +2.0/-2.0 is not exact in floating point
        two = np.dtype(dtype).type(2.0)
        np.testing.assert_array_equal(out, (data + two) - two)
    else:
        assert out.tobytes(order="F") == data.tobytes(order="F")  # bit for bit, -0.0 included


def test_every_encoding_of_the_issue_is_registered():
    assert set(supported_encodings()) >= {
        "raw", "jpeg", "png", "compressed_segmentation", "fpzip", "kempressed", "compresso", "crackle"}


# -- layouts and spec vectors -------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["jpeg", "png"])
@pytest.mark.parametrize("channels", [1, 3])
def test_image_tiling_is_width_x_height_y_times_z(encoding, channels):
    shape = (5, 4, 3)
    data = sample("png", "uint8", shape, channels, seed=3)
    blob = encode_chunk(data, fmt_for(encoding, "uint8", channels, quality=100))
    img = imagecodecs.imread(blob) if encoding == "png" else imagecodecs.jpeg8_decode(blob)
    assert img.shape[:2] == (4 * 3, 5)
    if encoding == "png":
        img = img.reshape(12, 5, channels)
        for x, y, z in np.ndindex(*shape):
            assert tuple(img[y + 4 * z, x]) == tuple(data[x, y, z])


def test_jpeg_spec_vector():
    """precomputed-format.md §4.2: uint8 [4,3,2] with 10x + 50y + 100z, quality 100."""
    x, y, z = np.meshgrid(np.arange(4), np.arange(3), np.arange(2), indexing="ij")
    data = (10 * x + 50 * y + 100 * z).astype(np.uint8)[..., None]
    blob = encode_chunk(np.asfortranarray(data), fmt_for("jpeg", "uint8", 1, quality=100))
    expected = [[0, 10, 20, 30], [50, 60, 70, 80], [100, 110, 120, 130], [100, 110, 120, 130],
                [150, 160, 170, 180], [200, 210, 220, 230]]
    assert imagecodecs.jpeg8_decode(blob).tolist() == expected
    np.testing.assert_array_equal(decode_chunk(blob, fmt_for("jpeg", "uint8", 1), (4, 3, 2)), data)


@pytest.mark.parametrize("dtype,values,shape,words", [
    ("uint32", [4, 4, 4, 4], (2, 2, 1), [1, 2, 2, 4]),
    ("uint64", [4, 4, 4, 4], (2, 2, 1), [1, 2, 2, 4, 0]),
    ("uint32", [4, 3, 5, 4, 1, 3, 3, 3], (2, 2, 2), [1, 33554437, 4, 16777225, 8, 97, 3, 4, 5, 14, 1, 3]),
])
def test_cseg_spec_vectors(dtype, values, shape, words):
    data = np.array(values, dtype=dtype).reshape((*shape, 1), order="F")
    fmt = fmt_for("compressed_segmentation", dtype, 1, block_size=(2, 2, 1))
    blob = encode_chunk(data, fmt)
    assert np.frombuffer(blob, "<u4").tolist() == words
    np.testing.assert_array_equal(decode_chunk(np.array(words, "<u4").tobytes(), fmt, shape), data)


@pytest.mark.parametrize("dtype", ["uint32", "uint64"])
def test_cseg_multichannel_layout(dtype):
    """Channel offset table first (offset[0] == C), then each channel's single-channel stream."""
    import compressed_segmentation as cseg

    shape = (19, 10, 9)
    data = sample("compressed_segmentation", dtype, shape, 3)
    fmt = fmt_for("compressed_segmentation", dtype, 3, block_size=(4, 4, 2))
    words = np.frombuffer(encode_chunk(data, fmt), "<u4")
    singles = [np.frombuffer(cseg.compress(np.asfortranarray(data[..., c]), block_size=(4, 4, 2), order="F"), "<u4")
               for c in range(3)]
    assert words[0] == 3 and words[1] == 3 + len(singles[0]) - 1 and words[2] == words[1] + len(singles[1]) - 1
    np.testing.assert_array_equal(words[3:], np.concatenate([s[1:] for s in singles]))
    native = cseg.decompress(words.tobytes(), (*shape, 3), np.dtype(dtype), (4, 4, 2), order="F")
    np.testing.assert_array_equal(native, data)


def test_kempressed_stream_is_x_y_c_z_plus_two_in_fortran_order():
    import fpzip

    data = sample("fpzip", "float32", (6, 5, 4), 2)
    raw = fpzip.decompress(encode_chunk(data, fmt_for("kempressed", "float32", 2)), order="F")
    np.testing.assert_array_equal(raw, np.swapaxes(data, 2, 3) + np.float32(2))


def test_fpzip_precision_is_lossy_and_verified():
    data = sample("fpzip", "float32", (16, 16, 8), 1)
    fmt = fmt_for("fpzip", "float32", 1, precision=16)
    blob = encode_chunk(data, fmt)
    out = decode_chunk(blob, fmt, (16, 16, 8))
    assert 0 < np.abs(out - data).max() <= 1e-2 * np.abs(data).max()
    with pytest.raises(DecodingError, match="fpzip_precision=0"):  # the info says lossless: not this stream
        decode_chunk(blob, fmt_for("fpzip", "float32", 1), (16, 16, 8))


def test_png_8bit_widens_into_uint16_layer():
    data = sample("png", "uint8", (8, 4, 2), 1)
    blob = encode_chunk(data, fmt_for("png", "uint8", 1))
    out = decode_chunk(blob, fmt_for("png", "uint16", 1), (8, 4, 2))
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, data)


# -- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding,layer_dtype,array_dtype,channels", [
    ("jpeg", "uint8", "uint16", 1), ("jpeg", "uint8", "uint8", 2), ("png", "uint8", "float32", 1),
    ("compressed_segmentation", "uint32", "uint64", 1), ("compressed_segmentation", "float32", "float32", 1),
    ("fpzip", "float32", "float64", 1), ("kempressed", "uint8", "uint8", 1),
    ("compresso", "uint32", "uint32", 2), ("crackle", "int32", "int32", 1),
])
def test_encoders_refuse_wrong_dtype_or_channels(encoding, layer_dtype, array_dtype, channels):
    data = np.zeros((4, 4, 2, channels), dtype=array_dtype, order="F")
    with pytest.raises(EncodingError):
        encode_chunk(data, fmt_for(encoding, layer_dtype, channels))


@pytest.mark.parametrize("encoding,dtype,channels", [
    ("jpeg", "uint8", 1), ("png", "uint16", 3), ("fpzip", "float32", 1),
    ("kempressed", "float64", 1), ("compresso", "uint16", 1), ("crackle", "uint64", 1),
])
def test_a_chunk_of_another_shape_is_refused(encoding, dtype, channels):
    # (compressed_segmentation does not record the chunk size: a stream fits every size of its block grid)
    data = sample(encoding, dtype, (16, 8, 4), channels)
    fmt = fmt_for(encoding, dtype, channels)
    with pytest.raises(DecodingError):
        decode_chunk(encode_chunk(data, fmt), fmt, (16, 8, 5))


def test_wrong_channel_count_is_refused():
    data = sample("compressed_segmentation", "uint32", (8, 8, 8), 2)
    blob = encode_chunk(data, fmt_for("compressed_segmentation", "uint32", 2))
    with pytest.raises(DecodingError, match="channel table"):
        decode_chunk(blob, fmt_for("compressed_segmentation", "uint32", 3), (8, 8, 8))
    jpg = encode_chunk(sample("jpeg", "uint8", (8, 8, 8), 3), fmt_for("jpeg", "uint8", 3))
    with pytest.raises(DecodingError, match="3 component"):
        decode_chunk(jpg, fmt_for("jpeg", "uint8", 1), (8, 8, 8))


def test_missing_codec_package_names_the_pip_package(monkeypatch):
    real = importlib.import_module

    def fake(name, *a, **kw):
        if name == "crackle":
            raise ImportError("No module named 'crackle'")
        return real(name, *a, **kw)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(UnsupportedFormatError, match="pip install crackle-codec"):
        decode_chunk(b"x" * 40, fmt_for("crackle", "uint32", 1), (4, 4, 4))


# -- where decoding runs ----------------------------------------------------------------------
def test_validated_cseg_decodes_in_threads_unless_processes_are_asked_for():
    fmt = fmt_for("compressed_segmentation", "uint64", 1)
    assert needs_isolation("compressed_segmentation")
    assert choose_mode(Options(decode_workers=2), fmt, 1 << 20) == "thread"
    assert choose_mode(Options(decode_workers=2, codec_executor="process"), fmt, 1 << 20) == "process"


@pytest.mark.parametrize("encoding", ["fpzip", "kempressed", "compresso", "crackle"])
def test_crash_prone_codecs_decode_in_processes_unless_threads_are_asked_for(encoding):
    fmt = fmt_for(encoding, "uint32", 1)
    assert needs_isolation(encoding)
    assert choose_mode(Options(decode_workers=2), fmt, 1 << 20) == "process"
    assert choose_mode(Options(decode_workers=0), fmt, 1 << 20) == "thread"
    assert choose_mode(Options(decode_workers=2, codec_executor="thread"), fmt, 1 << 20) == "thread"


# -- refused at info time ----------------------------------------------------------------------
def test_bad_combination_is_refused_before_anything_is_written(tmp_path):
    import json

    from aiovolume import CloudVolume
    from aiovolume.exceptions import InfoError

    with pytest.raises(InfoError, match="compressed_segmentation.*float32"):
        CloudVolume.create_new_info(1, "segmentation", "float32", "compressed_segmentation", [4, 4, 40], [0, 0, 0],
                                    [64, 64, 64])
    good = CloudVolume.create_new_info(1, "image", "uint8", "raw", [4, 4, 40], [0, 0, 0], [64, 64, 64])
    bad = json.loads(json.dumps(good))
    bad["scales"][0]["encoding"] = "fpzip"
    with pytest.raises(InfoError, match="fpzip.*uint8"):
        CloudVolume(f"file://{tmp_path}/a", info=bad)
    assert not (tmp_path / "a").exists()
    # an existing layer with an impossible combination is refused when opened
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "info").write_text(json.dumps(bad))
    with pytest.raises(InfoError, match="scales\\[0\\]: encoding 'fpzip' cannot store data_type 'uint8'"):
        CloudVolume(f"file://{tmp_path}/b")
