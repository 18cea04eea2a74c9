"""Shared test fixtures."""

import pytest

from nascore import paths


@pytest.fixture
def data_root():
    """The shared data root; skips the test with a reason when it is absent."""
    root = paths.data_root()
    if not root.exists():
        pytest.skip(f"needs the shared data at {root}: set NASCORE_DATA to run this test")
    return root


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One torch thread: the test nets are tiny, where threading costs more than it gives."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
