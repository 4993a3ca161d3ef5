"""Batch size against memory on the PennyLane engine: default.qubit broadcasts a whole batch
in one call, so a batch whose states exceed the memory budget is run in chunks (without
gradients) or refused with the figures before any simulation (with backprop, which keeps every
state until the backward pass). Checked in a real process under an address-space limit
(``ulimit -v``), which the budget follows."""

from __future__ import annotations

import re
import sys
import textwrap

import pytest

pytest.importorskip("pennylane_qiskit")

pytestmark = pytest.mark.pennylane

SCRIPT = textwrap.dedent(
    """
    import resource
    import numpy as np, psutil, torch
    from qmnist_qiskit.circuits import layered_circuit
    from qmnist_qiskit.engines import make_qnn
    from qmnist_qiskit.exceptions import QMNISTError

    spec = layered_circuit(10, reps=2)
    qnn = make_qnn(*spec, engine="pennylane")
    reference = make_qnn(*spec, engine="statevector")
    # 768 MiB of room above what the process has mapped: a budget of about 384 MiB, so that
    # a few thousand 10-qubit states (16 KB each, about 7 at once per sample) overflow it.
    room = psutil.Process().memory_info().vms + 768 * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (room, resource.RLIM_INFINITY))
    rng = np.random.default_rng(0)
    weights = torch.tensor(rng.uniform(-1, 1, len(spec.weight_params)))
    chunk = qnn.chunk_size(10**6, False)
    x = torch.tensor(rng.uniform(0, np.pi, (2 * chunk + 3, len(spec.input_params))))
    print("chunk", qnn.chunk_size(len(x), False), len(x))
    with torch.no_grad():
        values = qnn.torch_forward(x, weights)
    expected = reference.torch_forward(x, weights).detach()
    print("difference", float((values - expected).abs().max()))
    try:
        qnn.torch_forward(x[:1024], weights.clone().requires_grad_(True))
    except QMNISTError as error:
        print("refused:", error)
    """
)


# A few seconds of default.qubit on some thousand 10-qubit states, in three chunks.
@pytest.mark.slow
def test_a_batch_beyond_the_budget_is_chunked_or_refused_with_the_figures(children):
    status, out, err = children.run([sys.executable, "-c", SCRIPT], text=True, timeout=900)
    assert status == 0, err[-3000:]
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    chunk, batch = map(int, lines["chunk"].split())
    assert 1 <= chunk < batch
    assert float(lines["difference"]) < 1e-10
    refusal = lines["refused:"]
    assert re.match(r"a batch of 1,024 samples needs about [0-9,]+ bytes on", refusal), refusal
    assert "but the memory budget is" in refusal and "use a batch_size of at most" in refusal
