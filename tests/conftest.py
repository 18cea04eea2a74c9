"""Shared test fixtures."""

import os

import pytest

from nascore import io


@pytest.fixture
def data_root():
    """The shared data root; skips the test with a reason when it is absent."""
    root = io.data_root()
    if not root.exists():
        pytest.skip(f"needs the shared data at {root}: set NASCORE_DATA to run this test")
    return root


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    """Keeps torch to the machine's cores during tests (CI has 2)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(min(n, max(1, os.cpu_count() or 1)))
    yield
    torch.set_num_threads(n)
