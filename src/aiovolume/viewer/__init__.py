"""Looking at data: ``save_images``, the local slice viewer (``view``/``hyperview``) and the
Neuroglancer file server (``serve``).

This package's ``__init__`` imports nothing, so a value class (``VolumeCutout``) can import the
array viewer without pulling in storage: see the layers in pyproject.toml.
"""
