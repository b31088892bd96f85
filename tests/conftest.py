"""Shared test set-up: NumPy warnings (except underflow) are errors, fixed seeds, paths to the shared data."""
import os
import pathlib

import numpy as np
import pytest

import glassnet

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("GLASSNET_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _strict_numpy_and_seed():
    old = np.seterr(all="raise", under="ignore")   # underflow to 0 is normal (Adam moments, softmax)
    glassnet.utils.set_random_seed(1234)
    yield
    np.seterr(**old)


def shared_file(*parts):
    """Path to a file under ../shared/data, or skip the test with a clear reason."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared datasets folder is not present on this machine)")
    return path
