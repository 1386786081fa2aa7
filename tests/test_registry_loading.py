"""The registry is complete however the feature package is first imported."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["features", "features.registry"])
def test_registry_is_filled_on_first_import(module):
    code = (
        f"import {module}, sys\n"
        "from features.registry import REGISTRY\n"
        "assert 'features.pipeline' not in sys.modules\n"
        "print(len(REGISTRY.steps), len(REGISTRY.tables))\n"
    )
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    alone = tuple(map(int, got.stdout.split()))
    import features.pipeline  # noqa: F401  (what registered the features before)
    from features.registry import REGISTRY

    assert alone == (len(REGISTRY.steps), len(REGISTRY.tables)) and alone[0] > 0
