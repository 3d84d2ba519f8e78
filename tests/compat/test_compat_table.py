"""README.md's CloudVolume compatibility table is what ``make compat-table`` generates now.

If this fails after adding or changing a public name, run ``make compat-table`` and commit README.md.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from aiovolume.exceptions import UnsupportedFeatureError
from aiovolume.testing import compat_table

cloudvolume = pytest.importorskip("cloudvolume")

pytestmark = pytest.mark.interop

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def table():
    return compat_table.render()


@pytest.fixture(scope="module")
def statuses(table):
    rows = {}
    for line in table.splitlines():
        if line.startswith("| `"):
            name, kind, status = (cell.strip() for cell in line.strip("|").split(" | "))
            rows[(name.strip("`"), kind)] = status
    return rows


def test_readme_holds_the_generated_table(table):
    text = README.read_text(encoding="utf-8")
    assert "## CloudVolume compatibility" in text
    assert text.index("## CloudVolume compatibility") < text.index(compat_table.START) < text.index("## Benchmarks")
    assert compat_table.section(text) == table, "README.md is stale: run `make compat-table`"


def test_the_table_is_deterministic(table):
    assert compat_table.render() == table


def test_every_cloudvolume_name_and_argument_has_a_row(statuses):
    from cloudvolume.frontends.precomputed import CloudVolumePrecomputed

    names = {n for (n, kind) in statuses if kind != "argument"}
    public = {n for n in dir(CloudVolumePrecomputed) if not n.startswith("_")}
    assert public <= names
    # instance attributes of CloudVolume's __init__, and the factory on cloudvolume.CloudVolume
    assert {"meta", "image", "mesh", "skeleton", "cache", "config", "pid", "from_numpy"} <= names
    assert len(names) == len(public) + 8 == 92
    args = [n for (n, kind) in statuses if kind == "argument"]
    assert args == list(inspect.signature(cloudvolume.CloudVolume.__new__).parameters)[1:]
    assert {"lru_bytes", "codec_threads", "green_threads", "use_https", "secrets"} <= set(args)


def test_known_names_have_the_right_status(statuses):
    for name in ("add_scale", "info", "bounds", "mip", "mip_shape", "commit_info", "slices_to_global_coords"):
        kind = "method" if name in ("add_scale", "mip_shape", "commit_info", "slices_to_global_coords") else "property"
        assert statuses[(name, kind)] == "✓", name
    assert statuses[("download", "method")].startswith("✓")
    assert statuses[("exists", "method")] == "✓ (renamed bbox_or_slices→bbox)"
    for arg in ("cloudpath", "mip", "bounded", "fill_missing", "lru_bytes", "info"):
        assert statuses[(arg, "argument")] == "✓", arg


def test_write_and_check(tmp_path, table):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{compat_table.START}\nold\n{compat_table.END}\n\n## Benchmarks\n", encoding="utf-8")
    assert compat_table.main(["--check", str(readme)]) == 1
    assert compat_table.main(["--write", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert compat_table.section(text) == table and text.startswith("# x\n\n") and text.endswith("\n\n## Benchmarks\n")
    assert compat_table.main(["--check", str(readme)]) == 0
    assert compat_table.main(["--write", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == text  # idempotent
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="markers"):
        compat_table.main(["--write", str(readme)])


# -- the classifier, on small stand-ins for the two sides ----------------------------------------
class _Ours:
    """A facade with each kind of row: present, placeholder, broken, marked pending."""

    def exists(self, bbox, mip=None):
        return {}

    def download_point(self, pt, size=256, mip=None, coord_resolution=None):
        return None

    def viewer(self, port=1337):
        return None

    viewer.__aiovolume_pending__ = "issue 9: viewer"

    @property
    def mesh(self):
        raise UnsupportedFeatureError("vol.mesh: meshes are not supported yet (issue 5)")

    @property
    def provenance(self):
        raise KeyError("provenance")

    not_callable = 3


class _Theirs:
    def exists(self, bbox_or_slices):
        return {}

    def download_point(self, pt, size=256, mip=None, parallel=None, coord_resolution=None, **kwargs):
        return None

    def not_callable(self):
        return None


def test_status_of_each_kind():
    ours, theirs = _Ours(), _Theirs()
    status = compat_table.status_of
    assert status(ours, "exists", "method", theirs.exists) == "✓ (renamed bbox_or_slices→bbox)"
    assert status(ours, "download_point", "method", theirs.download_point) == (
        "✓ (lacks parallel; positions differ: coord_resolution)"
    )
    assert status(ours, "mesh", "attribute", None) == (
        "issue pending: vol.mesh: meshes are not supported yet (issue 5)"
    )
    assert status(ours, "viewer", "method", None) == "issue pending: issue 9: viewer"
    assert status(ours, "provenance", "property", None) == "✗ access raises KeyError"
    assert status(ours, "to_dask", "method", None) == "✗ missing"
    assert status(ours, "not_callable", "method", theirs.not_callable) == "✗ not callable"


def test_signature_notes():
    def theirs(self, a, b=1, c=(2, 2, 1), *, d=None):
        pass

    def same(a, b=1, c=[2, 2, 1], *, d=None):
        pass

    def differs(a, b=2, c=(2, 2, 1), e=0, *, f):
        pass

    def forwarder(*args, **kwargs):
        pass

    assert compat_table.signature_notes(theirs, same) == ""
    assert compat_table.signature_notes(theirs, forwarder) == ""
    assert compat_table.signature_notes(theirs, differs) == "lacks d; defaults differ: b; requires f"
