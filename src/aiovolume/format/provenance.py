"""A layer's ``provenance`` file: what it holds, how it is checked, its bytes (pure, no I/O).

CloudVolume 12.15 keeps a JSON object beside the info: the layer's ``description`` (string),
``owners`` (unique strings), ``processing`` (objects, e.g. ``{"method": ..., "by": ...}``) and
``sources`` (unique strings), plus any other keys, e.g. the dataset-level ``dataset_name``,
``dataset_description``, ``organism``, ``imaged_date``, ``imaged_by``, ``references``. Its bytes:

- committed to the layer: ``json.dumps(..., sort_keys=True, indent=2, separators=(",", ": "))``
  (:func:`commit_bytes`);
- in its disk cache: orjson's compact UTF-8 in key order (:func:`cache_bytes`).

Example::

    prov = Provenance(description="EM image", owners=["me@lab.org"])
    prov.processing.append({"method": "downsample", "by": "me@lab.org"})
    data = commit_bytes(prov)        # validates first
"""

from __future__ import annotations

import json
from typing import Any

from ..exceptions import ProvenanceError

# key -> (kind, unique items): the layer fields CloudVolume requires, and the dataset-level ones
LAYER_FIELDS: dict[str, tuple[str, bool]] = {
    "description": ("string", False),
    "sources": ("strings", True),
    "processing": ("objects", False),
    "owners": ("strings", True),
}
DATASET_FIELDS: dict[str, tuple[str, bool]] = {
    "dataset_name": ("string", False),
    "dataset_description": ("string", False),
    "organism": ("string", False),
    "imaged_date": ("string", False),
    "imaged_by": ("string", False),
    "references": ("strings", True),
}
# what CloudVolume's DataLayerProvenance adds, in this order, when a key is absent
_DEFAULT_ORDER = ("description", "owners", "processing", "sources")
#: what a layer without a provenance file reads as (CloudVolume's key order)
EMPTY = {"sources": [], "owners": [], "processing": [], "description": ""}


class Provenance(dict):
    """CloudVolume's ``DataLayerProvenance``: a dict (extra keys kept) with the fields as attributes.

    Missing fields read as empty and empty values are normalised (``None``/``""`` sources become
    ``[]``), as CloudVolume's reading does; nothing is validated until :meth:`validate`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key in _DEFAULT_ORDER:
            if key not in self:
                self[key] = "" if key == "description" else []
        for key in ("sources", "owners", "processing"):
            self[key] = self[key] or []
        self["description"] = self["description"] or ""

    def validate(self) -> None:
        """Raise :class:`ProvenanceError` naming every field of the wrong type."""
        problems = [p for key, spec in {**LAYER_FIELDS, **DATASET_FIELDS}.items()
                    if key in self and (p := _check(key, self[key], *spec))]
        if problems:
            raise ProvenanceError("invalid provenance: " + "; ".join(problems))

    def serialize(self) -> str:
        """CloudVolume's ``serialize()``: compact JSON in key order."""
        return cache_bytes(self).decode("utf8")


def _field(name: str) -> property:
    def get(self: Provenance) -> Any:
        return self.get(name)

    def set_(self: Provenance, value: Any) -> None:
        self[name] = value

    return property(get, set_, doc=f"the {name!r} field")


for _name in (*LAYER_FIELDS, *DATASET_FIELDS):
    setattr(Provenance, _name, _field(_name))
del _name


def _check(key: str, value: Any, kind: str, unique: bool) -> str | None:
    if kind == "string":
        return None if isinstance(value, str) else f"{key} must be a string, not {type(value).__name__}"
    if not isinstance(value, list):
        return f"{key} must be a list, not {type(value).__name__}"
    want = str if kind == "strings" else dict
    bad = [v for v in value if not isinstance(v, want)]
    if bad:
        return f"{key} must hold only {'strings' if want is str else 'objects (dicts)'}; got {bad[0]!r}"
    if unique and len(set(value)) != len(value):
        return f"{key} must not repeat items: {value!r}"
    return None


def as_provenance(value: Any, where: str = "provenance") -> Provenance:
    """A Provenance from a dict, a JSON string or a Provenance, validated (CloudVolume's
    constructor ``provenance=`` and what is read from storage)."""
    if isinstance(value, Provenance):
        return value
    if isinstance(value, (str, bytes)):
        value = parse(value, where)
    if not isinstance(value, dict):
        raise ProvenanceError(f"{where} must be a dict or a JSON object, not {type(value).__name__}")
    prov = Provenance(value)
    prov.validate()
    return prov


def parse(data: str | bytes, where: str = "provenance") -> dict[str, Any]:
    """The JSON object in ``data``; JSON5 too when the ``json5`` package is installed (CloudVolume)."""
    try:
        text = data.decode("utf8") if isinstance(data, bytes) else data
        obj = json.loads(text)
    except (UnicodeDecodeError, ValueError) as first:
        try:
            import json5
        except ImportError:
            raise ProvenanceError(f"{where} is not valid JSON ({first}); fix the file, or pip install json5 "
                                  "if it is JSON5") from None
        try:
            obj = json5.loads(text)
        except ValueError as e:
            raise ProvenanceError(f"{where} is neither JSON nor JSON5 ({e}); fix the file") from None
    if not isinstance(obj, dict):
        raise ProvenanceError(f"{where} must hold a JSON object, not {type(obj).__name__}")
    return obj


def commit_bytes(prov: Provenance) -> bytes:
    """The layer's ``provenance`` file, byte for byte CloudVolume's ``commit_provenance``; validates first."""
    prov.validate()
    # CloudVolume goes through orjson and back first: that fails on what JSON cannot hold
    plain = json.loads(cache_bytes(prov))
    return json.dumps(plain, sort_keys=True, indent=2, separators=(",", ": ")).encode("utf8")


def cache_bytes(prov: dict[str, Any]) -> bytes:
    """The cache's copy of the file: orjson's compact UTF-8 (CloudVolume writes ``serialize()`` there)."""
    try:
        return json.dumps(prov, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf8")
    except (TypeError, ValueError) as e:
        raise ProvenanceError(f"provenance holds a value JSON cannot store: {e}") from None
