"""The pure label functions behind ``download(segids=, renumber=, label=)`` and ``unique``."""

from __future__ import annotations

import numpy as np
import pytest

from aiovolume import CloudVolume
from aiovolume.exceptions import UnsupportedFeatureError
from aiovolume.labels import label_image, mask_except, renumber, unique_labels
from volume_helpers import make_info


def _inverts(img, out, mapping):
    inverse = {new: old for old, new in mapping.items()}
    assert len(inverse) == len(mapping)  # one-to-one
    back = np.vectorize(inverse.__getitem__, otypes=[img.dtype])(out)
    np.testing.assert_array_equal(back, img)


def test_renumber_unsigned_keeps_zero_and_goes_original_to_new():
    img = np.array([[[5, 0], [7, 2**40]]], dtype=np.uint64)
    out, mapping = renumber(img)
    assert mapping == {0: 0, 5: 1, 7: 2, 2**40: 3}
    assert out.dtype == np.uint16 and out.tolist() == [[[1, 0], [2, 3]]]
    _inverts(img, out, mapping)
    out, mapping = renumber(np.array([3, 9], dtype=np.uint8))
    assert mapping == {0: 0, 3: 1, 9: 2} and out.dtype == np.uint16  # 0 listed even when absent


def test_renumber_widens_past_uint16():
    img = np.arange(1, 70_001, dtype=np.uint32) * 3
    out, mapping = renumber(img)
    assert out.dtype == np.uint32 and int(out.max()) == 70_000
    _inverts(img, out, mapping)
    out, _ = renumber(np.arange(65_535, dtype=np.uint32) + 1)  # 65535 labels still fit uint16
    assert out.dtype == np.uint16


def test_renumber_signed_does_not_wrap():
    img = np.arange(-128, 128, dtype=np.int8)  # fastremap.renumber would wrap labels past 127
    out, mapping = renumber(img)
    assert out.dtype == np.uint16 and int(out.max()) == 255 and mapping[0] == 0 and mapping[-128] == 1
    _inverts(img, out, mapping)


def test_renumber_float_and_bool():
    img = np.array([2.5, 0.0, -1.5, 2.5], dtype=np.float32)
    out, mapping = renumber(img)
    assert mapping == {0: 0, -1.5: 1, 2.5: 2} and out.tolist() == [2, 0, 1, 2] and out.dtype == np.uint16
    out, mapping = renumber(np.array([True, False]))
    assert out.tolist() == [1, 0] and mapping == {0: 0, 1: 1}


def test_mask_except_does_not_touch_its_input():
    img = np.array([0, 1, 2, 3], dtype=np.uint16)
    keep = [1, 3]
    assert mask_except(img, keep).tolist() == [0, 1, 0, 3]
    assert mask_except(img, keep, preserve_zeros=True).tolist() == [0, 1, 65535, 3]
    assert keep == [1, 3] and img.tolist() == [0, 1, 2, 3]
    assert mask_except(img, iter([2])).tolist() == [0, 0, 2, 0]  # any iterable, read once
    f = np.array([0.0, 1.5, 2.5], dtype=np.float32)
    assert mask_except(f, [1.5], preserve_zeros=True).tolist() == [0.0, 1.5, np.inf]
    assert mask_except(f, [1.5]).tolist() == [0.0, 1.5, 0.0]


def test_label_image_and_unique():
    img = np.array([[1, 2], [2, 0]], dtype=np.int64)
    assert label_image(img, 2).tolist() == [[False, True], [True, False]]
    assert unique_labels(img) == {0, 1, 2} and all(type(v) is int for v in unique_labels(img))
    assert unique_labels(img[:0]) == set()


def test_crackle_is_refused(tmp_path):
    info = make_info("uint32", 1, size=(64, 64, 16), chunk=(32, 32, 16))
    vol = CloudVolume("file://" + str(tmp_path / "l"), info=info)
    vol.commit_info()
    with pytest.raises(UnsupportedFeatureError, match="crackle"):
        vol.download(np.s_[0:8, 0:8, 0:8], crackle=True)
    vol.close()
