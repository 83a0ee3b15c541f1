"""The public surface is exactly `__all__`, without duplicates, and every name in it exists."""

from __future__ import annotations

import projector


def test_all_is_the_public_surface() -> None:
    assert len(set(projector.__all__)) == len(projector.__all__)
    for name in projector.__all__:
        assert hasattr(projector, name), name
    public = {n for n in vars(projector) if not n.startswith("_")} - {"annotations"}
    modules = {"core", "errors", "metrics", "migrations", "synthetic"}
    assert public - modules == set(projector.__all__)
