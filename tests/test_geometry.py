"""Vec, Bbox and normalize_slices: concrete cases plus property tests against brute force."""

from __future__ import annotations

import copy
import itertools
import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiovolume.exceptions import DimensionError, EmptyRequestException, OutOfBoundsError
from aiovolume.geometry import Bbox, SliceRequest, Vec, normalize_slices

PROPS = settings(max_examples=150, deadline=None)


def points(box: Bbox) -> set[tuple[int, ...]]:
    """Every voxel of a small box, by enumeration."""
    return set(itertools.product(*(range(int(a), int(b)) for a, b in zip(box.minpt, box.maxpt))))


# -- Vec -----------------------------------------------------------------------------------
def test_vec_is_an_int64_ndarray_by_default():
    v = Vec(1, 2, 3)
    assert isinstance(v, np.ndarray) and v.dtype == np.int64 and v.shape == (3,)
    assert v.tolist() == [1, 2, 3]


def test_vec_float_and_explicit_dtype():
    assert Vec(0.5, 1, 2).dtype == np.float64
    assert Vec(1, 2, 3, dtype=np.float32).dtype == np.float32
    assert Vec(1.7, 2.2, dtype=np.int64).tolist() == [1, 2]
    assert Vec(np.array([4, 5, 6], dtype=np.int32)).tolist() == [4, 5, 6]
    assert Vec(np.array([4, 5, 6], dtype=np.int32)).dtype == np.int64


def test_vec_rejects_non_numbers_and_nested():
    with pytest.raises(TypeError):
        Vec("a", "b")
    with pytest.raises(DimensionError):
        Vec([1, 2], [3, 4])


def test_vec_components_read_and_write():
    v = Vec(1, 2, 3, 4)
    assert (v.x, v.y, v.z, v.w) == (1, 2, 3, 4)
    v.x, v.y, v.z, v.w = 10, 20, 30, 40
    assert v.tolist() == [10, 20, 30, 40]


def test_vec_clone_is_independent():
    v = Vec(1, 2, 3)
    c = v.clone()
    c.x = 99
    assert v.x == 1 and isinstance(c, Vec) and c.dtype == v.dtype


def test_vec_hash_and_array_behaviour():
    a, b = Vec(1, 2, 3), Vec(1, 2, 3)
    assert hash(a) == hash(b) == hash((1, 2, 3))
    assert {a: "x"}[a] == "x"  # usable as a key; == stays element-wise, as in CloudVolume
    assert hash(Vec(1, 2, 3)) != hash(Vec(3, 2, 1))
    assert (a == Vec(1, 0, 3)).tolist() == [True, False, True]  # still element-wise
    assert int(np.sum(a)) == 6 and a[1:].tolist() == [2, 3]


def test_vec_arithmetic_returns_vec():
    v = Vec(1, 2, 3)
    for result in (v + 1, v * 2, v - Vec(1, 1, 1), v // 2, np.maximum(v, 2)):
        assert type(result) is Vec
    assert (v + 1).tolist() == [2, 3, 4]
    assert (v / 2).dtype == np.float64


def test_vec_repr():
    assert repr(Vec(1, 2, 3)) == "Vec(1,2,3, dtype=int64)"
    assert repr(Vec(0.5, 2.0)) == "Vec(0.5,2.0, dtype=float64)"
    assert repr(Vec(-4, 0, 7)) == "Vec(-4,0,7, dtype=int64)"


def test_vec_pickles():
    v = Vec(-1, 2, 3)
    w = pickle.loads(pickle.dumps(v))
    assert type(w) is Vec and w.tolist() == [-1, 2, 3]


# -- Bbox: construction ----------------------------------------------------------------------
def test_bbox_basic_properties():
    b = Bbox((0, 0, 0), (64, 32, 16))
    assert type(b.minpt) is Vec and type(b.maxpt) is Vec
    assert b.minpt.tolist() == [0, 0, 0] and b.maxpt.tolist() == [64, 32, 16]
    assert b.dtype == np.int64 and b.ndim == 3


def test_bbox_sorts_corners_per_axis():
    b = Bbox((10, 0, 5), (0, 10, 5))
    assert b.minpt.tolist() == [0, 0, 5] and b.maxpt.tolist() == [10, 10, 5]


def test_bbox_dtype_inference():
    assert Bbox([0, 0, 0], [1.5, 2, 3]).dtype == np.float64
    assert Bbox(np.zeros(3, np.float32), np.ones(3, np.float32)).dtype == np.float32
    assert Bbox(np.zeros(3, np.int32), np.ones(3, np.uint8)).dtype == np.int64
    assert Bbox([0, 0, 0], [1.9, 2, 3], dtype=int).maxpt.tolist() == [1, 2, 3]
    assert Bbox([0, 0, 0], [1, 2, 3], dtype=np.float32).dtype == np.float32


def test_bbox_corner_shape_errors():
    with pytest.raises(DimensionError):
        Bbox((0, 0), (1, 1, 1))
    with pytest.raises(DimensionError):
        Bbox(np.zeros((2, 3)), np.ones((2, 3)))


def test_bbox_corner_assignment_stores_vec():
    b = Bbox((0, 0, 0), (4, 4, 4))
    b.maxpt = [8, 9, 10]
    assert type(b.maxpt) is Vec and b.size().tolist() == [8, 9, 10]
    b.minpt.x = 2
    assert b.size().x == 6


def test_bbox_ndim_other_than_three():
    b = Bbox((0, 0, 0, 0), (2, 3, 4, 5))
    assert b.ndim == 4 and b.size().tolist() == [2, 3, 4, 5] and b.size3().tolist() == [2, 3, 4]
    assert b.volume() == 24


# -- Bbox: measures --------------------------------------------------------------------------
def test_size_volume_center():
    b = Bbox((-2, 0, 10), (2, 8, 13))
    assert type(b.size()) is Vec and b.size().tolist() == [4, 8, 3]
    assert b.volume() == 96 and isinstance(b.volume(), int)
    assert b.center().tolist() == [0.0, 4.0, 11.5]
    assert Bbox((0, 0, 0), (0.5, 2, 2)).volume() == pytest.approx(2.0)


def test_volume_does_not_overflow_int64():
    side = 2**22
    assert Bbox((0, 0, 0), (side, side, side)).volume() == side**3


def test_empty_valid_subvoxel():
    assert not Bbox((0, 0, 0), (1, 1, 1)).empty()
    assert Bbox((0, 0, 0), (0, 5, 5)).empty()
    assert Bbox((3, 3, 3), (3, 3, 3)).empty()
    inverted = Bbox((0, 0, 0), (5, 5, 5))
    inverted.maxpt = (5, -1, -1)
    assert inverted.empty() and not inverted.valid() and inverted.subvoxel()
    assert Bbox((0, 0, 0), (0.5, 0.5, 0.5)).subvoxel()
    assert not Bbox((0, 0, 0), (1, 1, 1)).subvoxel()
    assert Bbox((0, 0, 0), (0, 0, 0)).valid()


# -- Bbox: conversion ------------------------------------------------------------------------
def test_clone_and_astype():
    b = Bbox((0, 1, 2), (3, 4, 5))
    c = b.clone()
    c.minpt.x = -7
    assert b.minpt.x == 0 and c != b
    f = b.astype(np.float32)
    assert f.dtype == np.float32 and f == b and b.dtype == np.int64


def test_to_slices_list_dict():
    b = Bbox((-1, 2, 3), (4, 5, 6))
    assert b.to_slices() == (slice(-1, 4), slice(2, 5), slice(3, 6))
    assert b.to_list() == [-1, 2, 3, 4, 5, 6]
    assert all(type(v) is int for v in b.to_list())
    assert b.to_dict() == {"minpt": [-1, 2, 3], "maxpt": [4, 5, 6]}


def test_from_list_dict_vec():
    assert Bbox.from_list([0, 1, 2, 3, 4, 5]) == Bbox((0, 1, 2), (3, 4, 5))
    with pytest.raises(DimensionError):
        Bbox.from_list([1, 2, 3])
    d = Bbox((1, 2, 3), (4.5, 5, 6)).to_dict()
    assert Bbox.from_dict(d) == Bbox((1, 2, 3), (4.5, 5, 6))
    assert Bbox.from_dict({"minpt": [0, 0, 0], "maxpt": [1, 2, 3], "dtype": "float32"}).dtype == np.float32
    v = Bbox.from_vec(Vec(4, 5, 6))
    assert v == Bbox((0, 0, 0), (4, 5, 6)) and v.dtype == np.int64


def test_from_points():
    b = Bbox.from_points([[1, 5, 2], [3, -1, 2], [2, 2, 9]])
    assert b == Bbox((1, -1, 2), (4, 6, 10)) and b.dtype == np.int64
    assert Bbox.from_points([[0.5, 1.5, -0.5]]) == Bbox((0, 1, -1), (1, 2, 0))
    with pytest.raises(DimensionError):
        Bbox.from_points(np.zeros((0, 3)))


def test_from_slices_without_context():
    assert Bbox.from_slices((slice(0, 10), slice(-5, 5), slice(2, 3))) == Bbox((0, -5, 2), (10, 5, 3))
    assert Bbox.from_slices((slice(0, 10), 7, slice(2, 3))) == Bbox((0, 7, 2), (10, 8, 3))
    assert Bbox.from_slices((slice(5, 2), slice(0, 1), slice(0, 1))).size().tolist() == [0, 1, 1]
    with pytest.raises(DimensionError):
        Bbox.from_slices((slice(None, 10), slice(0, 1), slice(0, 1)))
    with pytest.raises(DimensionError):
        Bbox.from_slices((slice(0, 10, 2), slice(0, 1), slice(0, 1)))
    with pytest.raises(TypeError):
        Bbox.from_slices((slice(0, 1.5), slice(0, 1), slice(0, 1)))


def test_from_slices_with_context():
    ctx = Bbox((-10, 0, 5), (10, 20, 15))
    assert Bbox.from_slices(np.s_[:, 3:4, ...], context=ctx) == Bbox((-10, 3, 5), (10, 4, 15))
    assert Bbox.from_slices(np.s_[-3:], context=ctx) == Bbox((-3, 0, 5), (10, 20, 15))
    assert Bbox.from_slices(np.s_[0:1, 0:1, 5:6, 0], context=ctx) == Bbox((0, 0, 5), (1, 1, 6))
    assert Bbox.from_slices(slice(1, 2), context=ctx) == Bbox((1, 0, 5), (2, 20, 15))
    assert Bbox.from_slices(ctx, context=ctx) == ctx
    with pytest.raises(OutOfBoundsError):
        Bbox.from_slices(np.s_[-11:0], context=ctx, bounded=True)
    assert Bbox.from_slices(np.s_[-11:0], context=ctx).minpt.x == -11
    assert Bbox.from_slices(np.s_[-10:10], context=ctx, bounded=True) == Bbox((-10, 0, 5), (10, 20, 15))


def test_create_accepts_every_bbox_like():
    ctx = Bbox((0, 0, 0), (100, 100, 100))
    ref = Bbox((1, 2, 3), (4, 5, 6))
    assert Bbox.create(ref) is ref
    assert Bbox.create([1, 2, 3, 4, 5, 6]) == ref
    assert Bbox.create((np.int64(1), 2, 3, 4, 5, 6)) == ref
    assert Bbox.create({"minpt": [1, 2, 3], "maxpt": [4, 5, 6]}) == ref
    assert Bbox.create(np.s_[1:4, 2:5, 3:6]) == ref
    assert Bbox.create([slice(1, 4), slice(2, 5), slice(3, 6)]) == ref
    assert Bbox.create(np.s_[1:4], context=ctx) == Bbox((1, 0, 0), (4, 100, 100))
    assert Bbox.create(Vec(4, 5, 6)) == Bbox((0, 0, 0), (4, 5, 6))
    with pytest.raises(TypeError):
        Bbox.create(3.5)
    with pytest.raises(OutOfBoundsError):
        Bbox.create(Bbox((-1, 0, 0), (5, 5, 5)), context=ctx, bounded=True)
    assert Bbox.create(Bbox((-1, 0, 0), (5, 5, 5)), context=ctx).minpt.x == -1


# -- Bbox: two-box operations ----------------------------------------------------------------
def test_intersection_concrete():
    a, b = Bbox((0, 0, 0), (10, 10, 10)), Bbox((5, -5, 2), (20, 5, 8))
    assert Bbox.intersection(a, b) == Bbox((5, 0, 2), (10, 5, 8)) == a.intersection(b)
    disjoint = Bbox.intersection(a, Bbox((20, 0, 0), (30, 10, 10)))
    assert disjoint.empty() and np.all(disjoint.size() >= 0)
    touching = Bbox.intersection(a, Bbox((10, 0, 0), (30, 10, 10)))
    assert touching.empty()


def test_intersects_class_and_instance_style():
    a = Bbox((0, 0, 0), (10, 10, 10))
    assert Bbox.intersects(a, Bbox((9, 9, 9), (11, 11, 11)))
    assert a.intersects(Bbox((9, 9, 9), (11, 11, 11)))
    assert not Bbox.intersects(a, Bbox((10, 0, 0), (11, 10, 10)))  # half-open: touching is apart
    assert not a.intersects(Bbox((-5, -5, -5), (0, 10, 10)))


def test_union_expand_clamp():
    a, b = Bbox((0, 0, 0), (4, 4, 4)), Bbox((-2, 6, 1), (1, 8, 2))
    assert Bbox.union(a, b) == a.union(b) == Bbox((-2, 0, 0), (4, 8, 4))
    assert Bbox.expand(a, b, Bbox((0, 0, 9), (1, 1, 10))) == Bbox((-2, 0, 0), (4, 8, 10))
    big = Bbox((-10, 2, 0), (2, 20, 100))
    assert big.clamp(a) == Bbox.clamp(big, a) == Bbox((0, 2, 0), (2, 4, 4))
    with pytest.raises(DimensionError):
        Bbox.intersection(a, Bbox((0, 0), (1, 1)))


def test_contains_is_half_open():
    b = Bbox((0, 0, 0), (10, 10, 10))
    assert b.contains((0, 0, 0)) and b.contains(Vec(9, 9, 9))
    assert not b.contains((10, 5, 5)) and not b.contains((5, -1, 5))
    with pytest.raises(DimensionError):
        b.contains((1, 2))


def test_contains_bbox():
    b = Bbox((0, 0, 0), (10, 10, 10))
    assert b.contains_bbox(b) and b.contains_bbox(Bbox((2, 2, 2), (10, 10, 10)))
    assert not b.contains_bbox(Bbox((2, 2, 2), (11, 10, 10)))
    assert not b.contains_bbox(Bbox((-1, 2, 2), (5, 5, 5)))


# -- Bbox: chunk alignment and resizing ------------------------------------------------------
def test_chunk_size_rounding_concrete():
    b = Bbox((3, 70, -5), (100, 128, 5))
    assert b.expand_to_chunk_size((64, 64, 64)) == Bbox((0, 64, -64), (128, 128, 64))
    assert b.shrink_to_chunk_size((64, 64, 8)) == Bbox((64, 128, 0), (64, 128, 0))
    assert Bbox((3, 60, -9), (200, 130, 9)).shrink_to_chunk_size((64, 64, 8)) == Bbox(
        (64, 64, -8), (192, 128, 8)
    )
    assert b.expand_to_chunk_size((64, 64, 64), offset=(1, 2, 3)) == Bbox((1, 66, -61), (129, 130, 67))
    # ties go to the even grid line, like numpy's round (and CloudVolume)
    assert Bbox((32, 96, 31), (160, 97, 33)).round_to_chunk_size((64, 64, 64)) == Bbox(
        (0, 128, 0), (128, 128, 64)
    )
    assert b.is_chunk_aligned((1, 1, 1)) and not b.is_chunk_aligned((2, 2, 2))
    with pytest.raises(DimensionError):
        b.expand_to_chunk_size((0, 64, 64))


def test_chunk_rounding_keeps_dtype():
    f = Bbox((0.5, 0, 0), (63.5, 64, 64)).expand_to_chunk_size((64, 64, 64))
    assert f.dtype == np.float64 and f == Bbox((0, 0, 0), (64, 64, 64))
    big = Bbox((2**53 + 1, 0, 0), (2**53 + 3, 1, 1))  # beyond float64's exact integers
    assert big.expand_to_chunk_size((2, 1, 1)).minpt.x == 2**53


def test_grow_and_shrink_in_place():
    b = Bbox((0, 0, 0), (10, 10, 10))
    assert b.grow(2) is b and b == Bbox((-2, -2, -2), (12, 12, 12))
    assert b.shrink((1, 2, 3)) is b and b == Bbox((-1, 0, 1), (11, 10, 9))
    with pytest.raises(ValueError):
        b.shrink(10)
    assert b == Bbox((-1, 0, 1), (11, 10, 9))  # a failed shrink leaves the box alone
    with pytest.raises(ValueError):
        b.shrink(-1)


# -- Bbox: operators, equality, repr -------------------------------------------------------
def test_translation():
    b = Bbox((0, 0, 0), (4, 4, 4))
    assert b + Vec(1, 2, 3) == Bbox((1, 2, 3), (5, 6, 7))
    assert Vec(1, 2, 3) + b == Bbox((1, 2, 3), (5, 6, 7))
    assert b - 1 == Bbox((-1, -1, -1), (3, 3, 3))
    assert (b + (1, 1, 1)).dtype == np.int64
    assert (b + 0.5).dtype == np.float64
    assert b == Bbox((0, 0, 0), (4, 4, 4))  # operators never mutate


def test_scaling():
    b = Bbox((-3, 2, 5), (5, 6, 9))
    assert b * 2 == Bbox((-6, 4, 10), (10, 12, 18))
    assert b * Vec(2, 1, 1) == Bbox((-6, 2, 5), (10, 6, 9))
    assert 2 * b == b * 2
    assert b // 2 == Bbox((-2, 1, 2), (2, 3, 4))
    assert (b // 2).dtype == np.int64
    assert b / 2 == Bbox((-1.5, 1, 2.5), (2.5, 3, 4.5))


def test_equality_and_hash():
    a = Bbox((0, 0, 0), (1, 2, 3))
    assert a == Bbox((0, 0, 0), (1, 2, 3)) and a != Bbox((0, 0, 0), (1, 2, 4))
    assert a == a.astype(np.float64) and hash(a) == hash(a.astype(np.float64))
    assert len({a, Bbox((0, 0, 0), (1, 2, 3)), Bbox((1, 0, 0), (2, 2, 3))}) == 2
    assert a != (0, 0, 0, 1, 2, 3) and a != "a"


def test_bbox_repr_pickle_copy():
    assert repr(Bbox((0, 0, 0), (64, 64, 64))) == "Bbox([0, 0, 0],[64, 64, 64], dtype=int64)"
    assert repr(Bbox((0, 0, 0), (0.5, 1, 1))) == "Bbox([0.0, 0.0, 0.0],[0.5, 1.0, 1.0], dtype=float64)"
    b = Bbox((-1, 2, 3), (4, 5, 6))
    assert pickle.loads(pickle.dumps(b)) == b and copy.deepcopy(b) == b


# -- normalize_slices: concrete --------------------------------------------------------------
BOUNDS = Bbox((-10, 0, 5), (10, 20, 15))


def test_normalize_full_and_partial_keys():
    r = normalize_slices(np.s_[:], BOUNDS, 3)
    assert isinstance(r, SliceRequest)
    assert r.bbox == BOUNDS and r.bbox.dtype == np.int64
    assert r.steps == (1, 1, 1) and r.channels == slice(0, 3, 1)
    assert normalize_slices(np.s_[...], BOUNDS, 3) == r
    assert normalize_slices(np.s_[:, :, :, :], BOUNDS, 3).bbox == BOUNDS
    r = normalize_slices(np.s_[-5:5, 3], BOUNDS, 1)
    assert r.bbox == Bbox((-5, 3, 5), (5, 4, 15))


def test_normalize_negative_numbers_are_coordinates():
    r = normalize_slices(np.s_[-1, -3:-2, 100:200], BOUNDS, 1)
    assert r.bbox == Bbox((-1, -3, 100), (0, -2, 200))  # never counted from the end, never clipped


def test_normalize_steps_channels_and_ellipsis():
    r = normalize_slices(np.s_[..., 0:10:3, 1], BOUNDS, 3)
    assert r.bbox == Bbox((-10, 0, 0), (10, 20, 10)) and r.steps == (1, 1, 3)
    assert r.channels == slice(1, 2, 1)
    key = (np.int64(2), slice(np.int32(1), 5, np.int16(2)), ..., slice(None, None, 2))
    r = normalize_slices(key, BOUNDS, 3)
    assert r.bbox == Bbox((2, 1, 5), (3, 5, 15)) and r.steps == (1, 2, 1)
    assert r.channels == slice(0, 3, 2)
    assert all(type(v) is int for v in r.steps + (r.channels.start, r.channels.stop, r.channels.step))


def test_normalize_bbox_key():
    r = normalize_slices(Bbox((1, 2, 3), (4, 5, 6)), BOUNDS, 2)
    assert r.bbox == Bbox((1, 2, 3), (4, 5, 6)) and r.steps == (1, 1, 1) and r.channels == slice(0, 2, 1)
    assert normalize_slices(Bbox((1, 2, 3), (4.0, 5, 6)), BOUNDS, 2).bbox.dtype == np.int64
    with pytest.raises(TypeError):
        normalize_slices(Bbox((1, 2, 3), (4.5, 5, 6)), BOUNDS, 2)
    with pytest.raises(EmptyRequestException):
        normalize_slices(Bbox((1, 2, 3), (1, 5, 6)), BOUNDS, 2)


@pytest.mark.parametrize(
    "key, error",
    [
        (np.s_[5:5], EmptyRequestException),
        (np.s_[:, 4:2], EmptyRequestException),
        (np.s_[:, :, :, 1:1], EmptyRequestException),
        (np.s_[::0], DimensionError),
        (np.s_[:, ::-1], DimensionError),
        (np.s_[..., ...], DimensionError),
        (np.s_[1, 2, 3, 0, 5], DimensionError),
        (np.s_[:, :, :, 2], OutOfBoundsError),
        (np.s_[:, :, :, -1], OutOfBoundsError),
        (np.s_[:, :, :, 0:3], OutOfBoundsError),
        (np.s_[1.5], TypeError),
        (np.s_[:, 0:2.5], TypeError),
        (np.s_[:, np.float32(0.5)], TypeError),
        (np.s_[float("nan")], TypeError),
        (np.s_["a"], TypeError),
        (np.s_[:, [1, 2]], TypeError),
        (np.s_[[[1, 2], [1, 2], [1, 2]]], TypeError),  # point indexing, not slices
        (np.s_[np.array([1, 2])], TypeError),
        (np.s_[True], TypeError),
        (np.s_[None], TypeError),
    ],
)
def test_normalize_errors(key: Any, error: type[Exception]):
    with pytest.raises(error):
        normalize_slices(key, BOUNDS, 2)


def test_normalize_error_bases_match_cloudvolume():
    with pytest.raises(ValueError):
        normalize_slices(np.s_[::0], BOUNDS, 1)
    with pytest.raises(ValueError, match=r"\[5, 0, 5\].*\[5, 20, 15\]"):
        normalize_slices(np.s_[5:5], BOUNDS, 1)


# -- normalize_slices vs a brute-force reference ----------------------------------------------
def is_int(v: Any) -> bool:
    """Integers, and floats holding whole numbers (CloudVolume takes float coordinates)."""
    if isinstance(v, (float, np.floating)):
        return float(v).is_integer()
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_item(v: Any) -> bool:
    return isinstance(v, (slice, int, float, np.integer, np.floating)) or v is Ellipsis


def reference(key: Any, bounds: Bbox, nc: int) -> tuple[list[range], set[type]]:
    """Per-axis Python ranges, and the set of errors that may be raised (empty when valid)."""
    as_tuple = isinstance(key, tuple) or (isinstance(key, list) and all(map(is_item, key)))
    items = list(key) if as_tuple else [key]
    if isinstance(key, Bbox):
        items = [slice(int(a), int(b)) for a, b in zip(key.minpt, key.maxpt)]
    dots = [i for i, it in enumerate(items) if it is Ellipsis]
    if len(dots) > 1 or len(items) - len(dots) > 4:
        return [], {DimensionError}
    if dots:
        items = items[: dots[0]] + [slice(None)] * (5 - len(items)) + items[dots[0] + 1 :]
    items += [slice(None)] * (4 - len(items))
    ranges, errors = [], set()
    for axis, item in enumerate(items):
        lo, hi = (int(bounds.minpt[axis]), int(bounds.maxpt[axis])) if axis < 3 else (0, nc)
        if is_int(item):
            start, stop, step = int(item), int(item) + 1, 1
        elif isinstance(item, slice) and all(
            v is None or is_int(v) for v in (item.start, item.stop, item.step)
        ):
            start = lo if item.start is None else int(item.start)
            stop = hi if item.stop is None else int(item.stop)
            step = 1 if item.step is None else int(item.step)
            if step <= 0:
                errors.add(DimensionError)
                continue
        else:
            errors.add(TypeError)
            continue
        if axis == 3 and not (0 <= start <= nc and 0 <= stop <= nc):
            errors.add(OutOfBoundsError)
        if not range(start, stop):
            errors.add(EmptyRequestException)
        ranges.append(range(start, stop, step))
    return ranges, errors


coords = st.one_of(st.integers(-3, 5), st.integers(-30, 30), st.integers(-30, 30).map(np.int64))
slices = st.builds(
    slice,
    st.none() | coords,
    st.none() | coords,
    st.none() | st.integers(-2, 4) | st.integers(1, 3).map(np.int32),
)
good_slices = st.builds(
    lambda a, n, s: slice(a, a + n, s),
    st.integers(-30, 30),
    st.integers(1, 10),
    st.none() | st.integers(1, 3),
)
junk = st.sampled_from([1.5, "x", None, True, np.float64(2.0), (1, 2), [0]])
items = st.one_of(coords, slices, good_slices, st.just(Ellipsis), junk)
keys = st.one_of(items, st.lists(items, min_size=1, max_size=5).map(tuple), st.lists(items, min_size=1, max_size=5))
bounds_boxes = st.builds(
    lambda lo, size: Bbox(lo, [a + s for a, s in zip(lo, size)]),
    st.lists(st.integers(-10, 10), min_size=3, max_size=3),
    st.lists(st.integers(1, 10), min_size=3, max_size=3),
)


def check_against_reference(key: Any, bounds: Bbox, nc: int) -> None:
    expected, errors = reference(key, bounds, nc)
    if errors:
        with pytest.raises(tuple(errors)):
            normalize_slices(key, bounds, nc)
        return
    r = normalize_slices(key, bounds, nc)
    got = [range(int(r.bbox.minpt[i]), int(r.bbox.maxpt[i]), r.steps[i]) for i in range(3)]
    assert [(g.start, g.stop, g.step) for g in got] == [(e.start, e.stop, e.step) for e in expected[:3]]
    assert (r.channels.start, r.channels.stop, r.channels.step) == (
        expected[3].start, expected[3].stop, expected[3].step
    )
    assert r.bbox.dtype == np.int64 and r.bbox.ndim == 3


@PROPS
@given(keys, bounds_boxes, st.integers(1, 4))
def test_normalize_matches_reference(key: Any, bounds: Bbox, nc: int):
    check_against_reference(key, bounds, nc)


@PROPS
@given(
    st.lists(st.one_of(good_slices, st.integers(-30, 30)), min_size=0, max_size=3),
    bounds_boxes,
    st.booleans(),
)
def test_normalize_valid_keys_match_reference(spatial: list[Any], bounds: Bbox, dots: bool):
    key = (*spatial, Ellipsis) if dots else tuple(spatial)
    assert not reference(key, bounds, 2)[1]  # the strategy only builds valid keys
    check_against_reference(key, bounds, 2)


# -- Bbox set operations vs brute force -----------------------------------------------------
small = st.integers(-8, 8)
boxes = st.builds(
    lambda a, b: Bbox(a, b), st.lists(small, min_size=3, max_size=3), st.lists(small, min_size=3, max_size=3)
)
nonempty = boxes.filter(lambda b: not b.empty())


@PROPS
@given(boxes, boxes)
def test_intersection_matches_point_sets(a: Bbox, b: Bbox):
    both = points(a) & points(b)
    result = Bbox.intersection(a, b)
    assert points(result) == both
    assert np.all(result.size() >= 0)
    assert Bbox.intersects(a, b) == a.intersects(b) == bool(both)
    assert points(a.clamp(b)) == both


@PROPS
@given(nonempty, nonempty)
def test_union_is_the_tight_hull(a: Bbox, b: Bbox):
    pts = points(a) | points(b)
    hull = Bbox.union(a, b)
    lo = [min(p[i] for p in pts) for i in range(3)]
    hi = [max(p[i] for p in pts) + 1 for i in range(3)]
    assert hull == Bbox(lo, hi)
    assert pts <= points(hull)


@PROPS
@given(boxes, st.lists(st.integers(-9, 9), min_size=3, max_size=3))
def test_contains_matches_point_sets(a: Bbox, p: list[int]):
    assert a.contains(p) == (tuple(p) in points(a))


@PROPS
@given(boxes, nonempty)
def test_contains_bbox_matches_point_sets(a: Bbox, b: Bbox):
    assert a.contains_bbox(b) == (points(b) <= points(a))


# -- chunk-size rounding vs brute force ------------------------------------------------------
def grid_lines(chunk: int, offset: int) -> list[int]:
    return [offset + k * chunk for k in range(-40, 40)]


def nearest_even(value: int, chunk: int, offset: int) -> int:
    ks = range(-40, 40)
    return offset + chunk * min(ks, key=lambda k: (abs(offset + k * chunk - value), k % 2))


chunks3 = st.lists(st.integers(1, 6), min_size=3, max_size=3)
offsets3 = st.lists(st.integers(-6, 6), min_size=3, max_size=3)


@PROPS
@given(boxes, chunks3, offsets3, st.booleans())
def test_chunk_size_rounding_matches_brute_force(
    box: Bbox, chunk: list[int], offset: list[int], as_float: bool
):
    lines = [grid_lines(c, o) for c, o in zip(chunk, offset)]
    lo, hi = box.minpt.tolist(), box.maxpt.tolist()
    if as_float:  # the float path must agree with the exact integer one
        box = box.astype(np.float64)

    grown = box.expand_to_chunk_size(chunk, offset)
    assert grown.dtype == box.dtype
    assert grown == Bbox(
        [max(g for g in ln if g <= v) for ln, v in zip(lines, lo)],
        [min(g for g in ln if g >= v) for ln, v in zip(lines, hi)],
    )

    shrunk = box.shrink_to_chunk_size(chunk, offset)
    s_lo = [min(g for g in ln if g >= v) for ln, v in zip(lines, lo)]
    s_hi = [max(g for g in ln if g <= v) for ln, v in zip(lines, hi)]
    if any(a > b for a, b in zip(s_lo, s_hi)):
        s_hi = s_lo
    assert shrunk.minpt.tolist() == s_lo and shrunk.maxpt.tolist() == s_hi
    assert points(shrunk) <= points(box)

    rounded = box.round_to_chunk_size(chunk, offset)
    assert rounded.minpt.tolist() == [nearest_even(v, c, o) for v, c, o in zip(lo, chunk, offset)]
    assert rounded.maxpt.tolist() == [nearest_even(v, c, o) for v, c, o in zip(hi, chunk, offset)]
