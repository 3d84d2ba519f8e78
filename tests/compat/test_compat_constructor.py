"""Every constructor argument of CloudVolume 12.15, on Volume and CloudVolume: honoured, or refused
with UnsupportedFeatureError naming the argument when its feature has its own issue."""

from __future__ import annotations

import inspect
import logging
import os

import numpy as np
import pytest

import aiovolume.cvargs as cvargs
from aiovolume import CloudVolume, Volume
from aiovolume.exceptions import AlignmentError, OptionError, UnsupportedFeatureError
from volume_helpers import make_info

CV_ARGS = [
    ("mip", 0), ("bounded", True), ("autocrop", False), ("fill_missing", False), ("cache", False),
    ("compress_cache", None), ("cdn_cache", True), ("progress", cvargs.INTERACTIVE), ("info", None),
    ("provenance", None), ("compress", None), ("compress_level", None), ("non_aligned_writes", False),
    ("overwrite_partial_chunks", False), ("parallel", 1), ("delete_black_uploads", False),
    ("background_color", 0), ("green_threads", False), ("use_https", False), ("max_redirects", 10),
    ("mesh_dir", None), ("skel_dir", None), ("agglomerate", False), ("secrets", None),
    ("spatial_index_db", None), ("lru_bytes", 0), ("cache_locking", True), ("lru_encoding", "same"),
    ("timestamp", None), ("codec_threads", 1),
]


def test_volume_takes_cloudvolumes_arguments_in_its_order_with_its_defaults():
    params = list(inspect.signature(Volume.__init__).parameters.values())[2:]
    positional = [(p.name, p.default) for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    # the async API shows no progress bar unless asked; the facade keeps CloudVolume's default
    assert positional == [(n, False if n == "progress" else d) for n, d in CV_ARGS]
    assert [p.name for p in params if p.kind is p.KEYWORD_ONLY] == ["options"]


@pytest.mark.interop
def test_signature_matches_the_real_cloudvolume():
    from cloudvolume import CloudVolume as CV
    from cloudvolume.cloudvolume import INTERACTIVE

    theirs = [(p.name, p.default) for p in list(inspect.signature(CV.__new__).parameters.values())[2:]]
    assert theirs == CV_ARGS
    assert INTERACTIVE == cvargs.INTERACTIVE


def test_positional_arguments_land_where_cloudvolume_puts_them(layer_url):
    # cloudpath, mip, bounded, autocrop, fill_missing, cache, compress_cache, cdn_cache, progress, info
    vol = CloudVolume(layer_url, 0, False, True, True, False, None, 60, False, make_info())
    assert (vol.bounded, vol.autocrop, vol.fill_missing, vol.cdn_cache) == (False, True, True, 60)
    vol.close()


def test_every_argument_at_its_default_opens_and_is_exposed(layer_url):
    kwargs = dict(CV_ARGS, info=make_info())
    with CloudVolume(layer_url, **kwargs) as vol:
        for name, default in CV_ARGS:
            if name in ("info", "mip", "cache", "provenance", "lru_bytes"):
                continue
            assert getattr(vol, name) == default, name
        assert vol.mip == 0 and vol.lru is None and vol.image.lru_bytes == 0


def test_honoured_arguments_are_stored_as_attributes(layer_url):
    with CloudVolume(
        layer_url, info=make_info(), mesh_dir="my_mesh", skel_dir="my_skels", agglomerate=True, timestamp=1234,
        compress_cache=False, cache_locking=False, parallel=3, codec_threads=2, secrets={"token": "x"},
        overwrite_partial_chunks=True, non_aligned_writes=True, lru_bytes=1 << 20, lru_encoding="raw",
    ) as vol:
        assert (vol.mesh_dir, vol.skel_dir) == ("my_mesh", "my_skels")
        # CloudVolume overrides the info's directories in memory
        assert vol.info["mesh"] == "my_mesh" and vol.info["skeletons"] == "my_skels"
        assert vol.meta.mesh == "my_mesh" and vol.meta.skeletons == "my_skels"
        assert vol.agglomerate is True and vol.timestamp == 1234
        assert vol.compress_cache is False and vol.cache_locking is False
        assert vol.parallel == 3 and vol.codec_threads == 2
        assert vol.overwrite_partial_chunks is True and vol.image.overwrite_partial_chunks is True
        assert vol.lru_encoding == "raw" and vol.image.lru_bytes == 1 << 20


@pytest.mark.parametrize("name", ["parallel", "codec_threads"])
def test_parallel_and_codec_threads_read_like_cloudvolume(name, layer_url):
    cores = os.cpu_count() or 1
    for given, expected in ((True, cores), (False, 1), (0, cores), (1, 1), (4, 4)):
        assert getattr(Volume(layer_url, **{name: given}), name) == expected
    with pytest.raises(OptionError, match=name):
        Volume(layer_url, **{name: -1})
    with pytest.raises(OptionError, match=name):
        Volume(layer_url, **{name: "many"})


@pytest.mark.parametrize("name, value, feature", [
    ("spatial_index_db", "mysql://u@h/db", "sqlite"),
    ("lru_encoding", "jpeg", "LRU"),
])
def test_arguments_whose_feature_is_pending_are_refused_by_name(name, value, feature, layer_url):
    for cls in (Volume, CloudVolume):
        with pytest.raises(UnsupportedFeatureError, match=f"{name}=.*{feature}") as err:
            cls(layer_url, info=make_info(), **{name: value})
        assert isinstance(err.value, NotImplementedError)


def test_cache_off_spellings_are_accepted(layer_url):
    for off in (False, None, "", 0):
        with CloudVolume(layer_url, info=make_info(), cache=off) as vol:
            assert vol.cache_path.endswith(os.path.join("file", layer_url[len("file:///"):]))


def test_unknown_keyword_is_a_typeerror_as_in_python(layer_url):
    with pytest.raises(TypeError, match="no_such_option"):
        Volume(layer_url, no_such_option=1)


def test_green_threads_is_accepted_and_logs_once(layer_url, caplog, monkeypatch):
    monkeypatch.setattr(cvargs, "_said_green_threads", False)
    with caplog.at_level(logging.INFO, logger="aiovolume"):
        for _ in range(3):
            vol = Volume(layer_url, green_threads=True)
            assert vol.green_threads is True
    said = [r for r in caplog.records if "green_threads" in r.getMessage()]
    assert len(said) == 1 and "no effect" in said[0].getMessage()


@pytest.mark.parametrize("given, expected", [
    ("gs://bucket/ds/layer", "https://storage.googleapis.com/bucket/ds/layer"),
    ("precomputed://gs://bucket/ds/layer/", "https://storage.googleapis.com/bucket/ds/layer"),
    ("s3://bucket/ds/layer", "https://s3.amazonaws.com/bucket/ds/layer"),
    ("s3://https://s3.example.org/bucket/ds/layer", "https://s3.example.org/bucket/ds/layer"),
    ("matrix://bucket/ds/layer", "https://s3-hpcrc.rc.princeton.edu/bucket/ds/layer"),
    ("https://host.org/ds/layer", "https://host.org/ds/layer"),
])
def test_use_https_rewrites_bucket_paths_to_public_endpoints(given, expected, tmp_path):
    vol = Volume(given, use_https=True)  # parsed only: nothing is opened
    assert vol.cloudpath == expected and vol.use_https is True
    assert Volume(given).cloudpath != expected or given.startswith("https")
    local = f"file://{tmp_path}/layer"
    assert Volume(local, use_https=True).cloudpath == local


@pytest.mark.interop
@pytest.mark.parametrize("given", ["gs://bucket/ds/layer", "s3://bucket/ds/layer", "matrix://bucket/ds/layer",
                                   "s3://https://s3.example.org/bucket/ds/layer"])
def test_use_https_agrees_with_cloudfiles(given):
    from cloudfiles.paths import to_https_protocol

    assert Volume(given, use_https=True).cloudpath == to_https_protocol(given).rstrip("/")


def _prefilled(url, **kwargs):
    vol = CloudVolume(url, info=make_info(size=(64, 64, 16), chunk=(32, 32, 16)), progress=False, **kwargs)
    vol.commit_info()
    vol[:, :, :] = np.full((64, 64, 16), 7, np.uint8)
    return vol


def test_overwrite_partial_chunks_makes_edge_chunks_from_background(tmp_path):
    merged = _prefilled(f"file://{tmp_path}/a", non_aligned_writes=True)
    shelled = _prefilled(f"file://{tmp_path}/b", non_aligned_writes=True, overwrite_partial_chunks=True,
                         background_color=3)
    for vol in (merged, shelled):
        vol[10:20, 10:20, 0:16] = np.full((10, 10, 16), 9, np.uint8)
    a, b = np.asarray(merged[:, :, :])[..., 0], np.asarray(shelled[:, :, :])[..., 0]
    assert (a[10:20, 10:20] == 9).all() and (b[10:20, 10:20] == 9).all()
    outside = np.ones(a.shape, bool)
    outside[10:20, 10:20] = False
    assert (a[outside] == 7).all()  # read-modify-write kept the old voxels
    touched = np.zeros(a.shape, bool)
    touched[0:32, 0:32] = True  # the one chunk the write touched
    assert (b[touched & outside] == 3).all() and (b[~touched] == 7).all()
    merged.close()
    shelled.close()


def test_overwrite_partial_chunks_needs_non_aligned_writes(layer_url):
    vol = _prefilled(layer_url)
    vol.overwrite_partial_chunks = True
    with pytest.raises(OptionError, match="non_aligned_writes=True"):
        vol[0:32, 0:32, 0:16] = np.zeros((32, 32, 16), np.uint8)
    vol.overwrite_partial_chunks = False
    with pytest.raises(AlignmentError):
        vol[0:10, 0:10, 0:16] = np.zeros((10, 10, 16), np.uint8)
    vol.close()


@pytest.mark.interop
def test_overwrite_partial_chunks_matches_cloudvolume(tmp_path):
    from cloudvolume import CloudVolume as CV

    ours = _prefilled(f"file://{tmp_path}/ours", non_aligned_writes=True, overwrite_partial_chunks=True,
                      background_color=3)
    theirs_url = f"file://{tmp_path}/theirs"
    _prefilled(theirs_url).close()
    theirs = CV(theirs_url, non_aligned_writes=True, overwrite_partial_chunks=True, background_color=3,
                progress=False, parallel=1)
    patch = np.arange(10 * 12 * 16, dtype=np.uint8).reshape(10, 12, 16)
    ours[10:20, 40:52, 0:16] = patch
    theirs[10:20, 40:52, 0:16] = patch
    np.testing.assert_array_equal(np.asarray(ours[:, :, :]), np.asarray(theirs[:, :, :]))
    ours.close()


def test_parallel_set_later_reads_like_the_constructor(layer_url):
    with CloudVolume(layer_url, info=make_info()) as vol:
        vol.parallel = True
        assert vol.parallel == (os.cpu_count() or 1)
        vol.parallel = 2
        assert vol.parallel == 2
        with pytest.raises(OptionError, match="parallel"):
            vol.parallel = -3


@pytest.mark.parametrize("max_redirects", [0, -1])
def test_max_redirects_at_most_zero_reads_this_info_without_following(tmp_path, max_redirects):
    target = f"file://{tmp_path}/target"
    CloudVolume(target, info=make_info(dtype="uint16")).commit_info()
    here = f"file://{tmp_path}/here"
    CloudVolume(here, info=dict(make_info(), redirect=target)).commit_info()
    with CloudVolume(here, max_redirects=max_redirects) as vol:
        assert vol.cloudpath == here and vol.dtype == np.uint8 and vol.info["redirect"] == target
        assert vol.read_only is False and vol.max_redirects == max_redirects
    with CloudVolume(here) as followed:
        assert followed.dtype == np.uint16 and followed.read_only is True


@pytest.mark.interop
def test_max_redirects_zero_matches_cloudvolume(tmp_path):
    from cloudvolume import CloudVolume as CV

    target = f"file://{tmp_path}/target"
    CloudVolume(target, info=make_info(dtype="uint16")).commit_info()
    here = f"file://{tmp_path}/here"
    CloudVolume(here, info=dict(make_info(), redirect=target)).commit_info()
    theirs = CV(here, max_redirects=0, progress=False)
    with CloudVolume(here, max_redirects=0) as ours:
        assert ours.info == theirs.info and ours.dtype == theirs.dtype
