"""format/spatial_index.py: .spatial cell names (CloudVolume's number rendering), parsing, overlap."""

import pytest

from aiovolume.exceptions import DecodingError, InfoError
from aiovolume.format.spatial_index import index_filenames, parse_index_file, precision_of, segids_in


def test_precision_follows_the_written_resolution():
    assert precision_of([4, 4, 40]) == 0 and precision_of([4.0, 4, 40]) == 1 and precision_of([3.25, 4, 1.5]) == 2


def test_names_clip_to_bounds_and_follow_number_types():
    assert index_filenames((0, 0, 0), (100, 60, 40), (64, 64, 64), (0, 0, 0), (100, 60, 40), 0) == [
        "0-64_0-60_0-40.spatial", "64-100_0-60_0-40.spatial"]
    assert index_filenames((0, 0, 0), (10, 10, 10), (10.0, 10.0, 10.0), (1, 1, 1), (2, 2, 2), 0) == [
        "0.0-10.0_0.0-10.0_0.0-10.0.spatial"]
    assert index_filenames((0, 0, 0), (9, 9, 9), (4.5, 9, 9), (5, 0, 0), (6, 1, 1), 2) == [
        "4.50-9.00_0.00-9.00_0.00-9.00.spatial"]
    assert index_filenames((0, 0, 0), (10, 10, 10), (5, 5, 5), (20, 20, 20), (30, 30, 30), 0) == []
    with pytest.raises(InfoError):
        index_filenames((0, 0, 0), (10, 10, 10), (0, 5, 5), (0, 0, 0), (1, 1, 1), 0)


def test_parse_and_strict_overlap():
    entries = parse_index_file(b'{"5": [0, 0, 0, 10, 10, 10], "18446744073709551615": [20, 20, 20, 30, 30, 30]}')
    assert set(entries) == {5, 2**64 - 1} and entries[5].tolist() == [0, 0, 0, 10, 10, 10]
    assert segids_in(entries, (10, 10, 10), (20, 20, 20)) == set()  # touching is not overlapping
    assert segids_in(entries, (9, 9, 9), (21, 21, 21)) == {5, 2**64 - 1}
    assert segids_in({}, (0, 0, 0), (1, 1, 1)) == set()
    for bad in (b"[1, 2]", b"{", b'{"x": [1]}'):
        with pytest.raises(DecodingError):
            parse_index_file(bad)
    assert parse_index_file(b"{}") == {}
