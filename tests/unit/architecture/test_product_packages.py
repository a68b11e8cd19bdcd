"""Test and demo parts stay out of the product packages: nothing a kiosk or the backend runs
imports `demo_support` (sample photos fetched with pip, the screenshot tour)."""

from __future__ import annotations

from test_import_cycles import import_graph

PRODUCT = ("backend", "cloud_bridge", "devices", "face", "locker", "privacy", "provisioning",
           "terminal")  # fmt: skip


def test_no_product_package_imports_demo_support():
    graph = import_graph()
    assert "demo_support.samples" in graph["demo_support.tour"]  # the graph sees the package
    offenders = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.split(".")[0] in PRODUCT
        for target in targets
        if target.split(".")[0] == "demo_support"
    )
    assert offenders == []
