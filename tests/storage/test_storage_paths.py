from __future__ import annotations

import os
from pathlib import Path

import pytest

from aiovolume.exceptions import UnsupportedProtocolError
from aiovolume.storage import CloudPath, open_store, parse_cloudpath
from aiovolume.storage.paths import SUPPORTED_SCHEMES, redact


@pytest.mark.parametrize(
    ("text", "scheme", "bucket", "path", "url"),
    [
        ("gs://bucket/ds/layer", "gs", "bucket", "ds/layer", "gs://bucket/ds/layer"),
        ("gs://bucket/ds/layer///", "gs", "bucket", "ds/layer", "gs://bucket/ds/layer"),
        ("precomputed://gs://b/x", "gs", "b", "x", "gs://b/x"),
        ("PRECOMPUTED://GS://b/x", "gs", "b", "x", "gs://b/x"),
        ("gs://b/x/|neuroglancer-precomputed:", "gs", "b", "x", "gs://b/x"),
        ("s3://my-bucket/a/b/c", "s3", "my-bucket", "a/b/c", "s3://my-bucket/a/b/c"),
        ("matrix://bkt/p/q", "matrix", "bkt", "p/q", "matrix://bkt/p/q"),
        ("mem://scratch/ds/layer/", "mem", "scratch", "ds/layer", "mem://scratch/ds/layer"),
        ("mem://scratch", "mem", "scratch", "", "mem://scratch"),
        ("http://localhost:8080/a/b/", "http", "localhost:8080", "a/b", "http://localhost:8080/a/b"),
        ("https://example.org/data/em", "https", "example.org", "data/em", "https://example.org/data/em"),
        ("precomputed://https://example.org/x", "https", "example.org", "x", "https://example.org/x"),
        ("https://example.org", "https", "example.org", "", "https://example.org"),
        ("file:///abs/ds/layer/", "file", None, "/abs/ds/layer", "file:///abs/ds/layer"),
        ("precomputed://file:///abs/x", "file", None, "/abs/x", "file:///abs/x"),
        ("/abs/no/scheme/", "file", None, "/abs/no/scheme", "file:///abs/no/scheme"),
        ("/abs/a/../b", "file", None, "/abs/b", "file:///abs/b"),
    ],
)
def test_grammar(text: str, scheme: str, bucket: str | None, path: str, url: str) -> None:
    cp = parse_cloudpath(text)
    assert (cp.scheme, cp.bucket, cp.path, cp.url) == (scheme, bucket, path, url)
    assert str(cp) == url
    assert parse_cloudpath(cp) is cp
    assert parse_cloudpath(url) == cp  # the normalised url parses to itself


def test_relative_and_home_file_paths_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # CloudVolume: file://rel/path is relative to the working directory, and ~ is expanded.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert parse_cloudpath("file://relative/path").path == str(tmp_path / "relative" / "path")
    assert parse_cloudpath("relative/path/").url == f"file://{tmp_path}/relative/path"
    assert parse_cloudpath("file://~/x").path == str(tmp_path / "home" / "x")
    assert parse_cloudpath("~/x").path == str(tmp_path / "home" / "x")


def test_s3_with_explicit_endpoint() -> None:
    cp = parse_cloudpath("s3://http://127.0.0.1:9000/bkt/ds/layer/")
    assert (cp.scheme, cp.bucket, cp.path) == ("s3", "bkt", "ds/layer")
    assert cp.endpoint == "http://127.0.0.1:9000"
    assert cp.url == "s3://http://127.0.0.1:9000/bkt/ds/layer"
    assert parse_cloudpath(cp.url) == cp
    assert parse_cloudpath("s3://bkt/x").endpoint is None
    assert parse_cloudpath("matrix://bkt/x").endpoint == "https://s3-hpcrc.rc.princeton.edu"


@pytest.mark.parametrize(
    ("text", "dataset", "layer", "base"),
    [
        ("gs://bucket/ds/layer", "ds", "layer", "gs://bucket/ds"),
        ("gs://bucket/a/b/ds/layer/", "ds", "layer", "gs://bucket/a/b/ds"),
        ("gs://bucket/layer", "bucket", "layer", "gs://bucket"),  # as cloudvolume.paths.extract
        ("file:///data/ds/layer", "ds", "layer", "file:///data/ds"),
        ("file:///layer", "", "layer", "file:///"),
        ("https://host:8000/ds/layer", "ds", "layer", "https://host:8000/ds"),
        ("mem://b/ds/layer", "ds", "layer", "mem://b/ds"),
    ],
)
def test_dataset_layer_base(text: str, dataset: str, layer: str, base: str) -> None:
    cp = parse_cloudpath(text)
    assert (cp.dataset_name, cp.layer, cp.base_cloudpath) == (dataset, layer, base)


@pytest.mark.interop
@pytest.mark.parametrize(
    "text", ["gs://bucket/ds/layer", "s3://b/a/b/c/d", "file:///data/ds/layer", "mem://b/x/y", "matrix://b/p/q"]
)
def test_dataset_and_layer_match_cloudvolume(text: str) -> None:
    from cloudvolume.paths import extract

    theirs = extract(text)
    cp = parse_cloudpath(text)
    assert (cp.dataset_name, cp.layer) == (theirs.dataset, theirs.layer)
    assert cp.base_cloudpath == f"{theirs.protocol}://{theirs.basepath}"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("ftp://host/x", "ftp://"),
        ("graphene://https://host/x", "graphene"),
        ("zarr://gs://b/x", "zarr"),
        ("gs://b/x|zarr2:", "zarr2"),
        ("gs://", "bucket"),
        ("gs:///x", "bucket"),
        ("gs://gs://b/x", "more than one protocol"),
        ("file://gs://b/x", "more than one protocol"),
        ("precomputed://precomputed://gs://b/x", "twice"),
        ("https:///nohost", "host"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_errors(text: str, needle: str) -> None:
    with pytest.raises(UnsupportedProtocolError, match=needle):
        parse_cloudpath(text)


def test_unknown_scheme_names_it_and_the_supported_ones() -> None:
    with pytest.raises(UnsupportedProtocolError) as info:
        parse_cloudpath("ftp://host/data/layer")
    message = str(info.value)
    assert "ftp://" in message
    for scheme in SUPPORTED_SCHEMES:
        assert f"{scheme}://" in message
    assert isinstance(info.value, ValueError)  # CloudVolume scripts catch ValueError


def test_not_a_string() -> None:
    with pytest.raises(UnsupportedProtocolError, match="str"):
        parse_cloudpath(42)  # type: ignore[arg-type]


# -- credentials ---------------------------------------------------------------------------------
def test_credentials_never_shown() -> None:
    cp = parse_cloudpath("https://alice:s3cr3t@example.org/ds/layer")
    assert cp.url == "https://example.org/ds/layer"
    assert cp.bucket == "example.org"
    for shown in (cp.url, repr(cp), str(cp), cp.base_cloudpath):
        assert "s3cr3t" not in shown and "alice" not in shown
    assert cp.auth == ("alice", "s3cr3t")  # kept for the backend, out of sight
    assert cp == parse_cloudpath("https://example.org/ds/layer")


def test_credentials_url_decoded_and_endpoint_redacted() -> None:
    cp = parse_cloudpath("s3://https://key:p%40ss@minio.local:9000/bkt/x")
    assert cp.auth == ("key", "p@ss")
    assert "p%40ss" not in repr(cp) and "key:" not in repr(cp)
    assert cp.endpoint == "https://minio.local:9000"


@pytest.mark.parametrize(
    "text",
    [
        "ftp://user:topsecret@host/x",
        "gs://user:topsecret@bucket/x",
        "https://user:top/secret@host/x",
        "graphene://https://user:topsecret@host/x",
        "https://user:topsecret@/x",
    ],
)
def test_credentials_not_in_errors(text: str) -> None:
    with pytest.raises(UnsupportedProtocolError) as info:
        parse_cloudpath(text)
    assert "secret" not in str(info.value)
    assert "secret" not in repr(info.value)


def test_open_store_rejects_unknown() -> None:
    with pytest.raises(UnsupportedProtocolError, match="ftp"):
        open_store("ftp://host/x")


def test_redact() -> None:
    assert redact("see https://u:p@h/x and s3://https://k:s@e/b") == "see https://***@h/x and s3://***@e/b"
    assert redact("https://u:pa/ss@h/x") == "https://***@h/x"  # over-redacting is fine; leaking is not
    assert redact("gs://bucket/x") == "gs://bucket/x"


def test_cloudpath_is_frozen_and_hashable() -> None:
    cp = parse_cloudpath("gs://b/x")
    with pytest.raises(AttributeError):
        cp.url = "gs://other"  # type: ignore[misc]
    assert {cp: 1}[parse_cloudpath("gs://b/x/")] == 1
    assert isinstance(cp, CloudPath)
    assert os.sep == "/"  # these tests assume posix paths
