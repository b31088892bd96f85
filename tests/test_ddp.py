"""examples/ddp_mnist.py under torchrun with 2 processes (gloo on 127.0.0.1): identical ranks, falling loss."""
import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason='needs the torch extra: pip install "glassnet[torch]"')
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
    pytest.skip("this torch build has no gloo backend for torch.distributed", allow_module_level=True)

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "ddp_mnist.py"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes(tmp_path):
    env = dict(os.environ, GLASSNET_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1")
    env.pop("GLASSNET_DATA", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
               "--master_addr=127.0.0.1", f"--master_port={free_port()}", str(EXAMPLE),
               "--steps", "200", "--batch-size", "32", "--embedded", "--out", str(tmp_path / "out")]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    ranks = [np.load(tmp_path / "out" / f"rank{r}.npz") for r in (0, 1)]
    names = sorted(ranks[0].files)
    assert names == sorted(ranks[1].files) and len(names) == 7        # losses + 3 kernels + 3 biases
    for name in names:
        np.testing.assert_array_equal(ranks[0][name], ranks[1][name])   # weights identical, bit for bit
    losses = ranks[0]["losses"]
    assert len(losses) == 200 and np.all(np.isfinite(losses))
    assert losses[-20:].mean() < 0.5 * losses[:20].mean()
    summary = json.loads((tmp_path / "out" / "result.json").read_text())
    assert summary["identical"] is True and summary["world_size"] == 2
    assert summary["accuracy"] > 0.8                                    # evaluated in glassnet
    assert summary["max_difference"] < 1e-5                             # glassnet == torch after the trip back
