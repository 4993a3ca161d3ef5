"""Batch size against memory on the PennyLane engine: default.qubit broadcasts a whole batch
in one call, so a batch whose states exceed the memory budget is run in chunks (without
gradients) or refused with the figures before any simulation (with backprop, which keeps every
state until the backward pass). Checked in a real process under an address-space limit
(``ulimit -v``), which the budget follows."""

from __future__ import annotations

import sys
import textwrap

import pytest

pytest.importorskip("pennylane_qiskit")

pytestmark = pytest.mark.pennylane

SCRIPT = textwrap.dedent(
    """
    import resource
    import numpy as np, torch
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, resource.RLIM_INFINITY))
    from qmnist_qiskit.circuits import layered_circuit
    from qmnist_qiskit.engines import make_qnn
    from qmnist_qiskit.exceptions import QMNISTError

    spec = layered_circuit(12, reps=2)
    qnn = make_qnn(*spec, engine="pennylane")
    rng = np.random.default_rng(0)
    weights = torch.tensor(rng.uniform(-1, 1, len(spec.weight_params)))
    # Without chunks: 8,192 states of 64 KB, about 7 states each at once, 3.6 GB in one call.
    x = torch.tensor(rng.uniform(0, np.pi, (8_192, len(spec.input_params))))
    print("chunk", qnn.chunk_size(len(x), False))
    with torch.no_grad():
        values = qnn.torch_forward(x, weights)
    reference = make_qnn(*spec, engine="statevector").torch_forward(x, weights).detach()
    print("difference", float((values - reference).abs().max()))
    try:
        qnn.torch_forward(x[:1024], weights.clone().requires_grad_(True))
    except QMNISTError as error:
        print("refused:", error)
    """
)


# About 2 CPU-minutes of default.qubit on 8,192 12-qubit states.
@pytest.mark.slow
def test_a_batch_beyond_the_budget_is_chunked_or_refused_with_the_figures(children):
    status, out, err = children.run([sys.executable, "-c", SCRIPT], text=True, timeout=900)
    assert status == 0, err[-3000:]
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert 1 <= int(lines["chunk"]) < 8_192
    assert float(lines["difference"]) < 1e-10
    refusal = lines["refused:"]
    assert refusal.startswith("a batch of 1,024 samples needs about 19,327,352,832 bytes on")
    assert "but the memory budget is" in refusal and "use a batch_size of at most" in refusal
