# The set-up commands of the README: `make demo`, `make test` and `make bench`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: demo test bench bench-mesh venv clean compat-table

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q -U pip

# One resolver run per extra set, so the botocore pin is solved together with everything else.
$(VENV)/.base: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e ".[test]"
	touch $@ $(VENV)/.base

$(VENV)/.bench: pyproject.toml | $(VENV)/bin/python
	$(PIP) install -q -e ".[bench]"
	touch $@ $(VENV)/.base

venv: $(VENV)/.base

demo: $(VENV)/.base
	$(PY) -m aiovolume.demo

# The import contracts first ([tool.importlinter] in pyproject.toml), then the suite.
test: $(VENV)/.test
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -q

# The scoreboard (benchmarks/README.md): `make bench`, or e.g. `make bench BENCH_ARGS="--quick"`.
# bench.py (S1-S8), then bench_sharded.py (S6, sharded layers), bench_mesh.py (meshes),
# bench_skeleton.py (skeletons), bench_transfer.py (transfer_to), bench_viewer.py (viewers),
# bench_pyramid.py (3 mips on dask vs igneous-style tasks) and bench_boss.py (boss:// against
# intern). `make bench-mesh`: the mesh scenario alone.
BENCH_ARGS ?=
MESH_BENCH_ARGS ?=
PYRAMID_BENCH_ARGS ?=
bench: $(VENV)/.bench
	$(PY) benchmarks/bench.py $(BENCH_ARGS)
	$(PY) benchmarks/bench_sharded.py $(BENCH_ARGS)
	$(PY) benchmarks/bench_mesh.py $(MESH_BENCH_ARGS)
	$(PY) benchmarks/bench_transfer.py $(BENCH_ARGS)
	$(PY) benchmarks/bench_skeleton.py
	$(PY) benchmarks/bench_viewer.py
	$(PY) benchmarks/bench_pyramid.py $(PYRAMID_BENCH_ARGS)
	$(PY) benchmarks/bench_boss.py $(BENCH_ARGS)

bench-mesh: $(VENV)/.bench
	$(PY) benchmarks/bench_mesh.py $(MESH_BENCH_ARGS)

# README.md's "CloudVolume compatibility" table, introspected from cloud-volume and aiovolume
compat-table: $(VENV)/.test
	$(PY) -m aiovolume.testing.compat_table --write README.md

clean:
	rm -rf $(VENV) demo-data
