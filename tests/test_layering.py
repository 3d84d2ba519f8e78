"""The import rules of DESIGN.md §2, checked on the source: imports flow one way."""

from __future__ import annotations

import ast
import pathlib

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "aiovolume"

# module group -> groups it may import (besides itself)
ALLOWED = {
    "exceptions": set(),
    "options": {"exceptions"},
    "geometry": {"exceptions"},
    "codecs": {"exceptions"},
    "format": {"geometry", "exceptions"},
    "storage": {"options", "exceptions"},
    "pipeline": {"codecs", "format", "storage.base", "geometry", "options", "exceptions"},
    "sync": set(),
    "cutout": {"geometry"},
    "layermeta": {"format", "geometry", "exceptions"},
    "volume": {"pipeline", "format", "storage", "codecs", "geometry", "options", "exceptions", "cutout", "layermeta"},
    "cloudvolume": {"sync", "volume", "cutout", "format", "geometry", "exceptions"},
    "demo": {"*"},
    "testing": {"*"},
    "__init__": {"*"},
}


def group_of(module: str) -> str:
    parts = module.split(".")
    return parts[0]


def imported_aiovolume_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    pkg = path.relative_to(SRC).with_suffix("").parts
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(pkg[: len(pkg) - node.level])
                mod = ".".join(base + ([node.module] if node.module else []))
                if not node.module:
                    found.update(f"{mod}.{a.name}".strip(".") for a in node.names)
                    continue
            elif node.module and node.module.startswith("aiovolume"):
                mod = node.module[len("aiovolume."):] if node.module != "aiovolume" else ""
            else:
                continue
            found.add(mod)
        elif isinstance(node, ast.Import):
            found.update(a.name[len("aiovolume."):] for a in node.names if a.name.startswith("aiovolume."))
    return {m for m in found if m}


def test_imports_flow_one_way():
    violations = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        me = rel.parts[0]
        allowed = ALLOWED.get(me)
        assert allowed is not None, f"{rel}: module group {me!r} is not in the layering table"
        if "*" in allowed:
            continue
        for mod in imported_aiovolume_modules(path):
            target = group_of(mod)
            if target == me or mod in allowed or target in allowed:
                continue
            violations.append(f"{'/'.join(rel.parts)} imports aiovolume.{mod}")
    assert violations == [], "\n".join(violations)


def test_worker_imports_only_numpy_codecs_and_shm():
    path = SRC / "pipeline" / "worker.py"
    ours = imported_aiovolume_modules(path)
    assert all(m.startswith("codecs") or m in {"exceptions", "pipeline.shm", "pipeline.placement", "pipeline.tasks"} for m in ours), ours
    tree = ast.parse(path.read_text())
    stdlib = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    stdlib |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level}
    assert "asyncio" not in stdlib and "aiohttp" not in stdlib
