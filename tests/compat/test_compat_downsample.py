"""pipeline/downsample.py: average (images) and mode (segmentation) against hand-computed vectors,
odd sizes (edge blocks reduced over what they hold), every integer width, and a brute-force
per-block reference on random data."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from aiovolume.exceptions import DimensionError, DtypeError
from aiovolume.pipeline.downsample import downsample, downsample_average, downsample_mode

BIG = 2**53  # float64 cannot tell BIG from BIG + 1


def xy(rows, dtype):
    """A 2-D list indexed [x][y] as an (x, y, 1) array."""
    return np.array(rows, dtype=dtype)[:, :, np.newaxis]


# -- averages ------------------------------------------------------------------------------------
def test_average_of_one_block_truncates_like_tinybrain():
    assert downsample_average(xy([[1, 2], [2, 2]], np.uint8), (2, 2, 1)).tolist() == [[[1]]]  # 1.75
    assert downsample_average(xy([[2, 3], [3, 3]], np.uint16), (2, 2, 1)).tolist() == [[[2]]]  # 2.75
    assert downsample_average(xy([[1, 2], [3, 2]], np.uint32), (2, 2, 1)).tolist() == [[[2]]]  # 2.0


def test_signed_average_truncates_toward_zero():
    assert downsample_average(xy([[-4, -3], [-3, -3]], np.int8), (2, 2, 1)).tolist() == [[[-3]]]  # -3.25
    assert downsample_average(xy([[-128, -128], [-128, -127]], np.int8), (2, 2, 1)).tolist() == [[[-127]]]
    assert downsample_average(xy([[5, -6], [0, 0]], np.int16), (2, 2, 1)).tolist() == [[[0]]]  # -0.25


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64"])
def test_average_at_the_top_of_the_range_does_not_overflow(dtype):
    top = np.iinfo(dtype).max
    out = downsample_average(xy([[top, top], [top, top - 1]], dtype), (2, 2, 1))
    assert out.dtype == np.dtype(dtype)
    assert out.tolist() == [[[int(top) - 1]]]  # top - 0.25 truncated


def test_uint64_and_int64_averages_are_exact():
    top = 2**64 - 1
    out = downsample_average(xy([[top, top], [top - 2, top]], np.uint64), (2, 2, 1))
    assert out.tolist() == [[[2**64 - 2]]]  # 2**64 - 1.5
    low = -(2**63)
    out = downsample_average(xy([[low, low], [low, low + 1]], np.int64), (2, 2, 1))
    assert out.tolist() == [[[low + 1]]]  # -2**63 + 0.25, toward zero
    out = downsample_average(xy([[BIG + 1, BIG + 3], [BIG + 1, BIG + 3]], np.uint64), (2, 2, 1))
    assert out.tolist() == [[[BIG + 2]]]


def test_odd_sizes_average_what_the_edge_blocks_hold():
    # x index first: img[x, y] = x + 3 y
    img = np.arange(9, dtype=np.uint8).reshape(3, 3, 1, order="F")
    assert img[:, :, 0].tolist() == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]
    # blocks: {0,1,3,4} -> 2, {6,7} -> 6.5, {2,5} -> 3.5, {8} -> 8
    assert downsample_average(img, (2, 2, 1))[:, :, 0].tolist() == [[2, 6], [3, 8]]
    assert downsample_average(img.astype(np.float32), (2, 2, 1))[:, :, 0].tolist() == [[2.0, 6.5], [3.5, 8.0]]


def test_float_averages_keep_the_dtype_and_are_computed_in_double():
    img = xy([[1e8, 1.0], [-1e8, 3.0]], np.float32)
    out = downsample_average(img, (2, 2, 1))
    assert out.dtype == np.float32 and out.tolist() == [[[1.0]]]  # float32 sums would lose the 1 and 3
    half = downsample_average(xy([[1, 2], [2, 2]], np.float16), (2, 2, 1))
    assert half.dtype == np.float16 and half.tolist() == [[[1.75]]]


def test_z_and_non_power_of_two_factors():
    img = np.arange(12, dtype=np.float64).reshape(1, 1, 12)
    assert downsample_average(img, (1, 1, 5)).ravel().tolist() == [2.0, 7.0, 10.5]
    assert downsample_average(img, (2, 2, 2)).ravel().tolist() == [0.5, 2.5, 4.5, 6.5, 8.5, 10.5]
    assert downsample_average(img, (1, 1, 1)).ravel().tolist() == img.ravel().tolist()


def test_channels_are_reduced_separately_and_4d_stays_4d():
    img = np.zeros((2, 2, 1, 2), dtype=np.uint8)
    img[..., 0] = [[[10], [20]], [[30], [40]]]
    img[..., 1] = 200
    out = downsample_average(img, (2, 2, 1))
    assert out.shape == (1, 1, 1, 2) and out.ravel().tolist() == [25, 200]
    assert downsample_average(img[..., 0], (2, 2, 1)).shape == (1, 1, 1)


# -- modes -------------------------------------------------------------------------------------------
def test_mode_picks_the_most_frequent_value():
    assert downsample_mode(xy([[3, 9], [9, 9]], np.uint32), (2, 2, 1)).tolist() == [[[9]]]
    assert downsample_mode(xy([[1, 2], [3, 1]], np.uint32), (2, 2, 1)).tolist() == [[[1]]]


def test_mode_ties_go_to_the_smallest_value():
    assert downsample_mode(xy([[7, 5], [5, 7]], np.uint32), (2, 2, 1)).tolist() == [[[5]]]
    assert downsample_mode(xy([[9, 3], [4, 8]], np.uint16), (2, 2, 1)).tolist() == [[[3]]]
    assert downsample_mode(xy([[0, 4], [4, 0]], np.uint64), (2, 2, 1)).tolist() == [[[0]]]


def test_uint64_mode_is_exact_above_2_53():
    out = downsample_mode(xy([[BIG + 1, BIG], [BIG + 1, 7]], np.uint64), (2, 2, 1))
    assert out.dtype == np.uint64 and out.tolist() == [[[BIG + 1]]]
    out = downsample_mode(xy([[BIG + 2, BIG + 1], [BIG + 1, BIG]], np.uint64), (2, 2, 1))
    assert out.tolist() == [[[BIG + 1]]]
    top = 2**64 - 1
    assert downsample_mode(xy([[top, top], [top - 1, 0]], np.uint64), (2, 2, 1)).tolist() == [[[top]]]


def test_mode_on_odd_sizes_uses_the_edge_blocks_voxels():
    img = np.array([[1, 1, 5], [2, 1, 5], [4, 6, 6]], dtype=np.uint32)[:, :, np.newaxis]
    # blocks: {1,1,2,1} -> 1, {5,5} -> 5, {4,6} -> 4 (tie), {6} -> 6
    assert downsample_mode(img, (2, 2, 1))[:, :, 0].tolist() == [[1, 5], [4, 6]]


def test_mode_with_channels_and_a_3d_factor():
    img = np.zeros((2, 2, 2, 2), dtype=np.int64)
    img[..., 0] = -5
    img[0, 0, 0, 0] = 3
    img[..., 1] = np.arange(8).reshape(2, 2, 2)
    img[1, 1, 1, 1] = 6
    out = downsample_mode(img, (2, 2, 2))
    assert out.shape == (1, 1, 1, 2) and out.ravel().tolist() == [-5, 6]


def test_downsample_dispatches_on_layer_type():
    img = xy([[1, 2], [2, 2]], np.uint8)
    assert downsample(img, (2, 2, 1), "image").tolist() == [[[1]]]
    assert downsample(img, (2, 2, 1), "segmentation").tolist() == [[[2]]]


# -- against a per-block reference -----------------------------------------------------------------------
def _reference(a, factor, kind):
    a4 = a if a.ndim == 4 else a[..., np.newaxis]
    shape = tuple(-(-s // f) for s, f in zip(a4.shape[:3], factor)) + (a4.shape[3],)
    out = np.empty(shape, a.dtype)
    for i, j, k, c in np.ndindex(shape):
        block = a4[i * factor[0]:(i + 1) * factor[0], j * factor[1]:(j + 1) * factor[1],
                   k * factor[2]:(k + 1) * factor[2], c].ravel().tolist()
        if kind == "mode":
            counts = collections.Counter(block)
            top = max(counts.values())
            out[i, j, k, c] = min(v for v, n in counts.items() if n == top)
        elif a.dtype.kind in "iu":
            total = sum(int(v) for v in block)
            q = abs(total) // len(block)
            out[i, j, k, c] = q if total >= 0 else -q
        else:
            out[i, j, k, c] = sum(float(v) for v in block) / len(block)
    return out if a.ndim == 4 else out[..., 0]


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "uint32", "int32", "uint64", "int64", "float32"])
@pytest.mark.parametrize("shape,factor", [((5, 4, 3), (2, 2, 1)), ((7, 5, 3, 2), (3, 2, 2)), ((9, 9, 4), (4, 4, 1)),
                                          ((1, 1, 1), (2, 2, 1))])
def test_matches_a_per_block_reference(dtype, shape, factor):
    rng = np.random.default_rng(7)
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        full = rng.integers(np.iinfo(dt).min, np.iinfo(dt).max, size=shape, dtype=dt, endpoint=True)
        labels = (rng.integers(0, 3, size=shape) + (BIG if dt.itemsize == 8 else 0)).astype(dt)
    else:
        full = (rng.standard_normal(shape) * 1e3).astype(dt)
        labels = rng.integers(0, 3, size=shape).astype(dt)
    avg = downsample_average(full, factor)
    expected = _reference(full, factor, "avg")
    assert avg.dtype == dt and avg.shape == expected.shape
    if dt.kind == "f":
        np.testing.assert_allclose(avg, expected, rtol=1e-6)
    else:
        np.testing.assert_array_equal(avg, expected)
    np.testing.assert_array_equal(downsample_mode(labels, factor), _reference(labels, factor, "mode"))
    np.testing.assert_array_equal(downsample_mode(full, factor), _reference(full, factor, "mode"))


@pytest.mark.parametrize("factor", [(2, 2, 1), (2, 2, 3)])
def test_slabs_give_the_same_answer(monkeypatch, factor):
    import aiovolume.pipeline.downsample as ds

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, size=(20, 18, 7, 2), dtype=np.uint64) + np.uint64(BIG)
    image = rng.integers(-2**63, 2**63 - 1, size=(20, 18, 7, 2), dtype=np.int64)
    whole = downsample_mode(labels, factor), downsample_average(image, factor)
    monkeypatch.setattr(ds, "_SLAB_VOXELS", 300)  # one output z plane at a time (and less)
    np.testing.assert_array_equal(downsample_mode(labels, factor), whole[0])
    np.testing.assert_array_equal(downsample_average(image, factor), whole[1])
    np.testing.assert_array_equal(whole[0], _reference(labels, factor, "mode"))
    np.testing.assert_array_equal(whole[1], _reference(image, factor, "avg"))


# -- refusals -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("factor", [(0, 2, 1), (2, 2), (2.5, 2, 1), (2, 2, 1, 2), "221", None, (2**11, 2**10, 2**10)])
def test_bad_factors_are_dimension_errors(factor):
    with pytest.raises(DimensionError, match="factor must be 3 positive integers"):
        downsample_average(np.zeros((4, 4, 4), np.uint8), factor)


def test_bad_arrays_are_typed_errors():
    with pytest.raises(DimensionError, match="got 2 dimensions"):
        downsample_mode(np.zeros((4, 4), np.uint8), (2, 2, 1))
    with pytest.raises(DtypeError, match="cannot average complex64"):
        downsample_average(np.zeros((2, 2, 1), np.complex64), (2, 2, 1))
