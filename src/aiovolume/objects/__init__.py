"""Values of a layer's objects: ``Mesh`` (and skeletons), no I/O."""
