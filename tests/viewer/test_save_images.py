"""save_images: one file per slice, compared with the array slice by slice (and with CloudVolume's)."""

import os

import imagecodecs
import numpy as np
import pytest

from aiovolume import Bbox, VolumeCutout, save_images
from aiovolume.exceptions import DimensionError, EncodingError


def read(path):
    return np.asarray(imagecodecs.imread(str(path)))


def test_uint8_z_slices_are_the_array(tmp_path):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (7, 5, 4), dtype=np.uint8)
    out = save_images(img, str(tmp_path / "out"), progress=False)
    assert out == str((tmp_path / "out").resolve())
    assert sorted(os.listdir(out)) == [f"{z:05d}.png" for z in range(4)]
    for z in range(4):
        page = read(tmp_path / "out" / f"{z:05d}.png")
        assert page.dtype == np.uint8 and page.shape == (5, 7)   # rows y, columns x
        np.testing.assert_array_equal(page, img[:, :, z].T)


@pytest.mark.parametrize("axis,index", [("x", 0), ("y", 1)])
def test_x_and_y_slices(tmp_path, axis, index):
    img = np.arange(6 * 5 * 4, dtype=np.uint16).reshape(6, 5, 4) * 300
    save_images(img, str(tmp_path), axis=axis, progress=False)
    files = sorted(os.listdir(tmp_path))
    assert len(files) == img.shape[index]
    for level, name in enumerate(files):
        page = read(tmp_path / name)
        assert page.dtype == np.uint16  # 16-bit grey, as CloudVolume
        np.testing.assert_array_equal(page, np.take(img, level, axis=index))


def test_segmentation_is_coloured_by_id(tmp_path):
    seg = np.array([[[0], [1]], [[0x123456], [0xABCDEF01]]], dtype=np.uint32)  # (2, 2, 1)
    save_images(seg, str(tmp_path), progress=False)
    page = read(tmp_path / "00000.png")
    assert page.shape == (2, 2, 4) and page.dtype == np.uint8
    ids = seg[:, :, 0].T
    np.testing.assert_array_equal(page[..., 0], ids & 0xFF)
    np.testing.assert_array_equal(page[..., 1], (ids >> 8) & 0xFF)
    np.testing.assert_array_equal(page[..., 2], (ids >> 16) & 0xFF)
    assert (page[..., 3] == 255).all()


def test_float_scaled_to_8_bits_globally_and_per_slice(tmp_path):
    img = np.zeros((2, 2, 2), np.float32)
    img[:, :, 0] = [[0, 1], [2, 3]]
    img[:, :, 1] = [[4, 5], [6, 7]]
    save_images(img, str(tmp_path / "g"), progress=False)
    np.testing.assert_array_equal(read(tmp_path / "g" / "00001.png"),
                                  ((img[:, :, 1] / 7.0) * 255).astype(np.uint8).T)
    save_images(img, str(tmp_path / "s"), global_norm=False, progress=False)
    np.testing.assert_array_equal(read(tmp_path / "s" / "00001.png"),
                                  (((img[:, :, 1] - 4) / 3.0) * 255).astype(np.uint8).T)
    # a constant volume is black (CloudVolume divides by zero here)
    save_images(np.full((2, 2, 1), 5.0), str(tmp_path / "c"), progress=False)
    assert (read(tmp_path / "c" / "00000.png") == 0).all()


def test_channels_and_bool(tmp_path):
    img = np.zeros((3, 2, 2, 2), np.uint8)
    img[..., 1] = 200
    save_images(img, str(tmp_path / "all"), progress=False)
    assert sorted(os.listdir(tmp_path / "all")) == ["0-00000.png", "0-00001.png", "1-00000.png", "1-00001.png"]
    assert (read(tmp_path / "all" / "1-00001.png") == 200).all()
    save_images(img, str(tmp_path / "one"), channel=1, progress=False)
    assert sorted(os.listdir(tmp_path / "one")) == ["00000.png", "00001.png"]
    mask = np.array([[[True], [False]]])
    save_images(mask, str(tmp_path / "b"), progress=False)
    np.testing.assert_array_equal(read(tmp_path / "b" / "00000.png"), [[255], [0]])


def test_jpeg_and_errors(tmp_path):
    img = np.full((8, 8, 1), 128, np.uint8)
    save_images(img, str(tmp_path), image_format="JPEG", progress=False)
    assert os.listdir(tmp_path) == ["00000.jpeg"]
    assert abs(int(read(tmp_path / "00000.jpeg").mean()) - 128) <= 1
    with pytest.raises(EncodingError, match="not supported"):
        save_images(img, str(tmp_path), image_format="BMP", progress=False)
    with pytest.raises(DimensionError, match="axis"):
        save_images(img, str(tmp_path), axis="w", progress=False)


def test_cutout_default_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cut = VolumeCutout(np.ones((4, 4, 2, 1), np.uint8), "ds", "img", 1, "image", Bbox((10, 20, 30), (14, 24, 32)))
    out = cut.save_images(progress=False)
    assert out == str(tmp_path / "saved_images" / "ds" / "img" / "1" / "10-14_20-24_30-32")
    assert sorted(os.listdir(out)) == ["00000.png", "00001.png"]


@pytest.mark.interop
# CloudVolume 12.15 on Pillow >= 13 fails on uint16 and id-coloured (uint32/64) images ("Invalid mode
# for data type"); those are compared with the array above
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64, bool])
def test_same_pixels_as_cloudvolume(tmp_path, dtype):
    pytest.importorskip("PIL")
    from cloudvolume.lib import save_images as cv_save_images

    rng = np.random.default_rng(7)
    img = (rng.random((9, 6, 3, 2)) * 1000).astype(dtype)
    for axis in "xyz":
        theirs = cv_save_images(img, str(tmp_path / f"cv{axis}"), axis=axis, progress=False)
        ours = save_images(img, str(tmp_path / f"av{axis}"), axis=axis, progress=False)
        assert sorted(os.listdir(theirs)) == sorted(os.listdir(ours))
        for name in os.listdir(theirs):
            np.testing.assert_array_equal(read(os.path.join(ours, name)), read(os.path.join(theirs, name)))
