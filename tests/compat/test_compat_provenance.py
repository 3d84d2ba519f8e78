"""Provenance: ``vol.provenance``, ``refresh_provenance``, ``commit_provenance`` and the
``provenance=`` argument, with the same file and bytes as cloud-volume 12.15."""

from __future__ import annotations

import copy
import json
import os

import pytest

from aiovolume import CloudVolume, Volume
from aiovolume.exceptions import ProvenanceError
from aiovolume.format.provenance import Provenance, cache_bytes, commit_bytes
from volume_helpers import make_info

RICH = {
    "description": "EM image, aligned — région 7",
    "owners": ["a@lab.org", "b@lab.org"],
    "processing": [{"method": "align", "by": "a@lab.org", "params": {"step": 2, "ok": True, "w": 0.5}},
                   {"method": "downsample", "by": "b@lab.org"}],
    "sources": ["gs://bucket/raw"],
    "dataset_name": "pinky", "dataset_description": "mouse V1", "organism": "mouse", "imaged_date": "2017",
    "imaged_by": "lab", "references": ["doi:10/xyz"], "zz_extra": [1, None, "x"],
}


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def open_layer(url, **kw):
    vol = CloudVolume(url, info=make_info(), progress=False, **kw)
    vol.commit_info()
    return vol


def test_a_layer_without_a_provenance_file_reads_as_empty(layer_url):
    with open_layer(layer_url) as vol:
        prov = vol.provenance
        assert prov == {"sources": [], "owners": [], "processing": [], "description": ""}
        assert (prov.description, prov.owners, prov.processing, prov.sources) == ("", [], [], [])
        assert isinstance(prov, Provenance) and prov.dataset_name is None


def test_commit_then_refresh_round_trips_every_field(layer_url):
    with open_layer(layer_url) as vol:
        vol.provenance = copy.deepcopy(RICH)
        vol.provenance.processing.append({"method": "mesh"})
        vol.commit_provenance()
        vol.provenance = {}
        assert vol.refresh_provenance() == {**RICH, "processing": RICH["processing"] + [{"method": "mesh"}]}
        assert vol.provenance.organism == "mouse" and vol.provenance.references == ["doi:10/xyz"]
    assert json.loads(_read(layer_url[len("file://"):] + "/provenance"))["zz_extra"] == [1, None, "x"]


async def test_the_async_volume_reads_provenance_when_asked(layer_url):
    with open_layer(layer_url) as vol:
        vol.provenance = {"description": "from the facade"}
        vol.commit_provenance()
    async with Volume(layer_url) as vol:
        with pytest.raises(ProvenanceError, match="refresh_provenance"):
            vol.provenance
        assert not vol.provenance_loaded
        assert (await vol.refresh_provenance()).description == "from the facade"
        vol.provenance.owners = ["c@lab.org"]
        await vol.commit_provenance()
        assert vol.meta.provenance.owners == ["c@lab.org"]


@pytest.mark.parametrize("bad, field", [
    ({"description": 3}, "description must be a string"),
    ({"owners": "me"}, "owners must be a list"),
    ({"owners": ["me", "me"]}, "owners must not repeat"),
    ({"sources": [1]}, "sources must hold only strings"),
    ({"processing": ["downsample"]}, "processing must hold only objects"),
    ({"organism": ["mouse"]}, "organism must be a string"),
    ({"references": [1]}, "references must hold only strings"),
])
def test_commit_validates_and_writes_nothing_when_invalid(layer_url, bad, field):
    with open_layer(layer_url) as vol:
        vol.provenance = bad  # as CloudVolume, setting does not check
        with pytest.raises(ProvenanceError, match=field) as err:
            vol.commit_provenance()
        assert isinstance(err.value, ValueError)
        assert not os.path.exists(layer_url[len("file://"):] + "/provenance")


def test_the_constructor_argument_is_validated_and_used(layer_url):
    with pytest.raises(ProvenanceError, match="owners"):
        CloudVolume(layer_url, info=make_info(), provenance={"owners": [1]})
    with open_layer(layer_url, provenance='{"description": "given"}') as vol:
        assert vol.provenance.description == "given" and vol.provenance.owners == []
        vol.commit_provenance()
    with open_layer(layer_url) as vol:
        assert vol.provenance.description == "given"


def test_a_file_that_is_not_json_is_a_provenance_error(layer_url):
    with open_layer(layer_url) as vol:
        with open(layer_url[len("file://"):] + "/provenance", "w") as f:
            f.write("{not json")
        with pytest.raises(ProvenanceError, match="provenance"):
            vol.refresh_provenance()


def test_unstorable_values_are_refused_on_commit(layer_url):
    with open_layer(layer_url) as vol:
        vol.provenance.processing.append({"when": object()})
        with pytest.raises(ProvenanceError, match="JSON"):
            vol.commit_provenance()


# -- byte for byte against cloud-volume --------------------------------------------------------
@pytest.mark.interop
@pytest.mark.parametrize("content", [{}, {"description": "x"}, RICH])
def test_the_committed_file_is_cloudvolumes_byte_for_byte(tmp_path, content):
    from cloudvolume import CloudVolume as CV

    ours_url, theirs_url = f"file://{tmp_path}/ours", f"file://{tmp_path}/theirs"
    with open_layer(ours_url) as vol:
        vol.provenance = content
        vol.commit_provenance()
    cv = CV(theirs_url, info=make_info(), progress=False, provenance=dict(content))
    cv.commit_info()
    cv.commit_provenance()
    theirs = _read(f"{tmp_path}/theirs/provenance")
    assert _read(f"{tmp_path}/ours/provenance") == theirs
    # and each reads the other's
    assert CV(ours_url, progress=False).provenance == CV(theirs_url, progress=False).provenance
    with CloudVolume(theirs_url, progress=False) as vol:
        assert commit_bytes(vol.provenance) == theirs


@pytest.mark.interop
def test_the_cached_copy_is_cloudvolumes_byte_for_byte(tmp_path):
    from cloudvolume import CloudVolume as CV

    url = f"file://{tmp_path}/layer"
    with open_layer(url) as vol:
        vol.provenance = copy.deepcopy(RICH)
        vol.commit_provenance()
    cv = CV(url, cache=str(tmp_path / "cv-cache"), progress=False)  # caches the provenance on open
    with CloudVolume(url, cache=str(tmp_path / "our-cache"), progress=False) as vol:
        vol.refresh_provenance()
        ours = _read(os.path.join(vol.cache.path, "provenance"))
    assert ours == _read(os.path.join(cv.cache.path, "provenance"))
    assert ours == cv.provenance.serialize().encode("utf8")


@pytest.mark.interop
def test_serialize_is_cloudvolumes_in_key_order():
    from cloudvolume.datasource.precomputed.metadata import PrecomputedMetadata

    for content in ({}, {"owners": ["z"], "description": "d"}, {"sources": None, "owners": []}, RICH):
        # what cloud-volume holds after reading a file or a provenance= argument (its _cast_provenance
        # does not use self)
        theirs = PrecomputedMetadata._cast_provenance(None, copy.deepcopy(content))
        ours = Provenance(copy.deepcopy(content))
        assert list(ours) == list(theirs)
        assert cache_bytes(ours) == theirs.serialize().encode("utf8") and ours.serialize() == theirs.serialize()
