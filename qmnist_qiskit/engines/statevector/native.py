"""Compiled sweeps for the statevector engine: build once per machine, cache on disk, load.

The executor's torch kernels make several passes over the whole batch's states for every
operation; for a training batch those states do not fit in the caches, so a step is bound by
memory traffic. The C sweeps in :mod:`~qmnist_qiskit.engines.statevector.native_source` apply
every operation of a program to a few samples at a time while their states stay in the
caches, forward, and in the adjoint sweep un-apply each operation, propagate the seed and
contract the operation's gradient in the same pass.

The source is compiled with the system's C compiler (``$CC``, else ``cc``) into a shared
library under ``$XDG_CACHE_HOME/qmnist_qiskit/`` (``~/.cache/qmnist_qiskit/``), named by a
hash of the source, the compiler's version, the flags and the machine, written atomically, and
reused by every later process. Without a working compiler, or on a platform other than
x86-64/ARM64 Linux or macOS, the torch path runs instead (same results) after one
``UserWarning``. ``QMNIST_QISKIT_COMPILED=0`` turns the compiled path off (no warning).
Only complex128 programs on the CPU whose operations are single-qubit matrices, two-qubit
diagonals and permutations with phases take it; everything else runs on the torch path.

The same library binds the parameters before the sweeps (float64 on the CPU): the angle
table's polynomial angles (:class:`CompiledAngleTerms`) and the products of runs of Pauli
rotations (:class:`CompiledRotationRuns`), each one call forward and one backward instead of
dozens of small torch operations over the batch.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from qmnist_qiskit.engines.statevector.kernels import (
    DiagonalKernel,
    MonomialKernel,
    UnitaryKernel,
    Workspace,
)
from qmnist_qiskit.engines.statevector.native_source import KINDS, LANES, OP_FIELDS, SOURCE

DISABLE_VARIABLE = "QMNIST_QISKIT_COMPILED"
"""Set to ``0`` to run the torch path only."""

_FLAGS = ("-O3", "-std=gnu11", "-shared", "-fPIC")
_NATIVE_FLAGS = ("-march=native",)
_PLATFORMS = {"linux", "darwin"}
_MACHINES = {"x86_64", "amd64", "aarch64", "arm64"}
_COMPILE_SECONDS = 120


@dataclass
class LibraryStatus:
    """How this process got the compiled library (see :func:`library_status`).

    ``compiled``: this process ran the compiler (``False``: the cached library was found);
    ``seconds``: time spent finding or building and loading it; ``reason``: why there is
    no library (``None`` when there is one).
    """

    path: Path | None = None
    compiled: bool = False
    seconds: float = 0.0
    reason: str | None = None


_lock = threading.Lock()
_state: dict[str, object] = {}


def compiled_path_enabled() -> bool:
    """Whether the compiled path may run (``QMNIST_QISKIT_COMPILED`` is not ``0``)."""
    return os.environ.get(DISABLE_VARIABLE, "1").strip() not in {"0", "false", "no", "off"}


def cache_directory() -> Path:
    """Where compiled libraries are kept: ``$XDG_CACHE_HOME/qmnist_qiskit`` or
    ``~/.cache/qmnist_qiskit``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "qmnist_qiskit"


def _platform_problem() -> str | None:
    machine = platform.machine().lower()
    if sys.platform not in _PLATFORMS or machine not in _MACHINES:
        return f"no compiled kernels for {sys.platform}/{machine}"
    return None


def _machine_identity() -> str:
    """What ``-march=native`` depends on: the CPU model and its instruction-set flags."""
    facts = [platform.machine(), platform.processor()]
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags", "Features")):
                facts.append(line)
                if len(facts) >= 4:
                    break
    except OSError:
        pass
    return "\n".join(facts)


def _run(command: Sequence[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(command), capture_output=True, text=True, timeout=_COMPILE_SECONDS, check=False
    )


def _compile(compiler: list[str], target: Path) -> str | None:
    """Build the library at ``target`` (atomically); the compiler's complaint on failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as folder:
        source = Path(folder) / "qmnist_sweeps.c"
        source.write_text(SOURCE)
        built = Path(folder) / target.name
        error = ""
        # -march=native first; a compiler that refuses it still builds portable code.
        for flags in (_FLAGS + _NATIVE_FLAGS, _FLAGS):
            result = _run([*compiler, *flags, "-o", str(built), str(source), "-lm"])
            if result.returncode == 0:
                os.replace(built, target)
                return None
            error = (result.stderr or result.stdout).strip()
        return error or "the compiler failed"


def _find_or_build() -> tuple[ctypes.CDLL | None, LibraryStatus]:
    began = time.perf_counter()
    problem = _platform_problem()
    if problem is not None:
        return None, LibraryStatus(reason=problem)
    compiler = shlex.split(os.environ.get("CC") or "cc")
    try:
        version = _run([*compiler, "--version"])
    except (OSError, subprocess.SubprocessError) as exc:
        return None, LibraryStatus(reason=f"no C compiler ({shlex.join(compiler)}: {exc})")
    if version.returncode != 0:
        return None, LibraryStatus(reason=f"no C compiler ({shlex.join(compiler)} failed)")
    key = hashlib.sha256(
        "\0".join(
            [SOURCE, shlex.join(compiler), version.stdout, " ".join(_FLAGS + _NATIVE_FLAGS)]
            + [_machine_identity()]
        ).encode()
    ).hexdigest()[:20]
    suffix = ".dylib" if sys.platform == "darwin" else ".so"
    target = cache_directory() / f"sweeps-{key}{suffix}"
    compiled = False
    if not target.exists():
        try:
            error = _compile(compiler, target)
        except (OSError, subprocess.SubprocessError) as exc:
            error = str(exc)
        if error is not None:
            return None, LibraryStatus(reason=f"compiling failed: {error.splitlines()[-1]}")
        compiled = True
    try:
        library = ctypes.CDLL(str(target))
    except OSError as exc:
        return None, LibraryStatus(reason=f"loading {target} failed: {exc}")
    for name in (
        "qmnist_expectations",
        "qmnist_gradients",
        "qmnist_rotation_runs",
        "qmnist_rotation_runs_backward",
        "qmnist_angle_terms",
        "qmnist_angle_terms_backward",
    ):
        getattr(library, name).restype = ctypes.c_int
    seconds = time.perf_counter() - began
    return library, LibraryStatus(path=target, compiled=compiled, seconds=seconds)


def _library() -> ctypes.CDLL | None:
    """The compiled library, built or found once per process; ``None`` (after one warning)
    where it cannot be had."""
    with _lock:
        if "library" not in _state:
            library, status = _find_or_build()
            _state["library"], _state["status"] = library, status
            if library is None:
                warnings.warn(
                    f"statevector engine: compiled kernels unavailable ({status.reason}); "
                    "using the torch kernels (same results, slower)",
                    UserWarning,
                    stacklevel=4,
                )
        return _state["library"]  # type: ignore[return-value]


def library_status() -> LibraryStatus:
    """How this process found or built the compiled library (builds it if not yet tried)."""
    _library()
    return _state["status"]  # type: ignore[return-value]


def scratch_bytes(num_qubits: int) -> int:
    """Bytes of the scratch blocks the compiled sweeps use on a ``num_qubits`` program."""
    return 4 * 2 ** (num_qubits + 1) * LANES * 8


class _Program(ctypes.Structure):
    _fields_ = [
        ("qubits", ctypes.c_int64),
        ("batch", ctypes.c_int64),
        ("num_ops", ctypes.c_int64),
        ("ops", ctypes.c_void_p),
        ("slots", ctypes.c_void_p),
        ("grads", ctypes.c_void_p),
        ("rows", ctypes.c_void_p),
        ("count", ctypes.c_void_p),
        ("stride", ctypes.c_void_p),
        ("vectors", ctypes.c_void_p),
        ("num_paulis", ctypes.c_int64),
        ("paulis", ctypes.c_void_p),
        ("num_columns", ctypes.c_int64),
    ]


def _operation(kernel: object, address: tuple[int, int] | None) -> list[int] | None:
    """The program-table row of one step (``None``: a kind the C sweeps do not handle)."""
    if isinstance(kernel, UnitaryKernel) and len(kernel.qubits) == 1 and address is not None:
        return [KINDS["unitary1"], kernel.qubits[0], 0, *address, 0, 0, 0]
    if isinstance(kernel, DiagonalKernel) and address is not None:
        return [KINDS["diagonal2"], *kernel.qubits, *address, 0, 0, 0]
    if isinstance(kernel, MonomialKernel) and address is None:
        tables = (kernel.source, kernel.phase, kernel.inverse)
        for table in tables:
            if table is not None and (table.device.type != "cpu" or not table.is_contiguous()):
                return None
        if kernel.source is not None and kernel.source.dtype != torch.int64:
            return None
        if kernel.phase is not None and kernel.phase.dtype != torch.complex128:
            return None
        pointers = [0 if table is None else table.data_ptr() for table in tables]
        return [KINDS["monomial"], 0, 0, -1, 0, *pointers]
    return None


def _pauli_table(paulis: Sequence[str]) -> list[list[int]]:
    """X mask, Z mask, number of Ys and column of each Pauli label (Qiskit's order: qubit 0
    rightmost), sorted by X mask."""
    rows = []
    for column, label in enumerate(paulis):
        letters = label[::-1]
        x_mask = sum(1 << qubit for qubit, letter in enumerate(letters) if letter in "XY")
        z_mask = sum(1 << qubit for qubit, letter in enumerate(letters) if letter in "YZ")
        rows.append([x_mask, z_mask, letters.count("Y"), column])
    return sorted(rows)


class CompiledProgram:
    """A lowered program and its Pauli strings in the C sweeps' table form.

    Built by :func:`compiled_program`; the tensors the table points to (permutations and
    phases) belong to the steps, which the executor keeps. Bound tensors passed to the
    methods must be contiguous complex128 on the CPU.
    """

    def __init__(
        self,
        table: list[list[int]],
        vectors: Sequence[tuple[int, int] | None],
        num_qubits: int,
        paulis: Sequence[str],
    ) -> None:
        self.num_qubits = num_qubits
        self._ops = torch.tensor(table, dtype=torch.int64).reshape(-1, OP_FIELDS)
        flat = [value for address in vectors for value in (address or (-1, 0))]
        self._vectors = torch.tensor(flat, dtype=torch.int64)
        self._paulis = torch.tensor(_pauli_table(paulis), dtype=torch.int64).reshape(-1, 4)
        self.num_paulis = len(paulis)

    def _scratch(self, work: Workspace, blocks: int) -> torch.Tensor:
        return work.get("compiled", (blocks * 2 ** (self.num_qubits + 1) * LANES,), torch.float64)

    def _program(
        self,
        bound: Sequence[torch.Tensor | None],
        grads: Sequence[torch.Tensor | None],
        batch: int,
    ) -> tuple[_Program, list]:
        pointers = (ctypes.c_void_p * len(bound))()
        gradients = (ctypes.c_void_p * len(bound))()
        shapes = torch.zeros(3, len(bound), dtype=torch.int64)
        for slot, tensor in enumerate(bound):
            if tensor is None:
                continue
            pointers[slot] = tensor.data_ptr()
            grad = grads[slot]
            gradients[slot] = None if grad is None else grad.data_ptr()
            shapes[0, slot], shapes[1, slot] = tensor.shape[0], tensor.shape[1]
            shapes[2, slot] = tensor[0, 0].numel()
        program = _Program(
            self.num_qubits,
            batch,
            self._ops.shape[0],
            self._ops.data_ptr(),
            ctypes.addressof(pointers),
            ctypes.addressof(gradients),
            shapes[0].data_ptr(),
            shapes[1].data_ptr(),
            shapes[2].data_ptr(),
            self._vectors.data_ptr(),
            self._paulis.shape[0],
            self._paulis.data_ptr(),
            self.num_paulis,
        )
        # The arrays the structure points to must outlive the call: the caller holds them.
        return program, [pointers, gradients, shapes]

    def expectations(
        self, bound: Sequence[torch.Tensor | None], batch: int, work: Workspace
    ) -> torch.Tensor:
        """The Pauli expectations ``(batch, num_paulis)`` (float64)."""
        result = torch.empty(batch, self.num_paulis, dtype=torch.float64)
        program, arrays = self._program(bound, [None] * len(bound), batch)
        _library().qmnist_expectations(
            ctypes.byref(program),
            ctypes.c_void_p(result.data_ptr()),
            ctypes.c_void_p(self._scratch(work, 2).data_ptr()),
        )
        del arrays
        return result

    def gradients(
        self,
        bound: Sequence[torch.Tensor | None],
        grad_output: torch.Tensor,
        wanted: Sequence[bool],
        stop_at: int,
        work: Workspace,
    ) -> list[torch.Tensor | None]:
        """The gradient of each bound tensor (``None`` where not ``wanted``) for the
        incoming gradient ``grad_output`` ``(batch, num_paulis)`` of the expectations; the
        sweep stops at step ``stop_at`` (0: down to the initial vectors)."""
        grads = [
            torch.zeros_like(tensor) if tensor is not None and flag else None
            for tensor, flag in zip(bound, wanted, strict=True)
        ]
        grad_output = grad_output.resolve_neg().to(torch.float64).contiguous()
        program, arrays = self._program(bound, grads, grad_output.shape[0])
        flags = torch.tensor([grad is not None for grad in grads], dtype=torch.uint8)
        _library().qmnist_gradients(
            ctypes.byref(program),
            ctypes.c_void_p(grad_output.data_ptr()),
            ctypes.c_void_p(flags.data_ptr()),
            ctypes.c_int64(stop_at),
            ctypes.c_void_p(self._scratch(work, 4).data_ptr()),
        )
        del arrays
        return grads


def compiled_program(
    steps: Sequence[tuple[object, tuple[int, int] | None]],
    vectors: Sequence[tuple[int, int] | None],
    num_qubits: int,
    paulis: Sequence[str],
    dtype: torch.dtype,
    device: torch.device,
) -> CompiledProgram | None:
    """The program in the C sweeps' form, or ``None`` where the torch path must run it
    (another dtype or device, an operation kind the sweeps lack, or no compiled library)."""
    if dtype != torch.complex128 or device.type != "cpu" or num_qubits > 40:
        return None
    table = [_operation(kernel, address) for kernel, address in steps]
    if any(row is None for row in table) or _library() is None:
        return None
    return CompiledProgram(table, vectors, num_qubits, paulis)


def _check_table_input(tensor: torch.Tensor, columns: int, name: str) -> None:
    """What the binding functions read: a contiguous float64 CPU tensor ``(rows, C)`` with
    ``C >= columns`` (anything else would be misread, or read out of bounds)."""
    if (
        tensor.device.type != "cpu"
        or tensor.dtype != torch.float64
        or tensor.dim() != 2
        or tensor.shape[1] < columns
        or not tensor.is_contiguous()
    ):
        raise ValueError(
            f"compiled binding needs contiguous float64 CPU {name} with at least {columns} "
            f"columns, got {tuple(tensor.shape)} {tensor.dtype} on {tensor.device}"
        )


class CompiledRotationRuns:
    """Products of runs of ``rx``/``ry``/``rz`` rotations in C, forward and backward (see
    :class:`~qmnist_qiskit.engines.statevector.rotation_runs.RotationRuns`): each sample's
    runs are chains of quaternion products in one call, instead of a tree of batched torch
    operations. Built by :func:`compiled_rotation_runs`.

    ``runs``: each run's gates in the order they act, as ``(angle column, axis)`` with axis
    0, 1, 2 for ``rx``, ``ry``, ``rz``. The angles may have any number of columns beyond the
    last one read: C steps through the rows by the tensor's own width.
    """

    def __init__(self, runs: Sequence[Sequence[tuple[int, int]]]) -> None:
        starts = [0]
        for run in runs:
            starts.append(starts[-1] + len(run))
        self.num_runs = len(runs)
        self._starts = torch.tensor(starts, dtype=torch.int64)
        self._columns = torch.tensor([c for run in runs for c, _ in run], dtype=torch.int64)
        self._axes = torch.tensor([a for run in runs for _, a in run], dtype=torch.int64)
        self._longest = max((len(run) for run in runs), default=0)
        self._num_read = max((c + 1 for run in runs for c, _ in run), default=0)

    def _table(self) -> list[ctypes.c_void_p]:
        return [
            ctypes.c_void_p(self._starts.data_ptr()),
            ctypes.c_void_p(self._columns.data_ptr()),
            ctypes.c_void_p(self._axes.data_ptr()),
        ]

    def forward(
        self, angles: torch.Tensor, keep: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(rows, runs, 2, 2)`` complex128 from contiguous float64 ``angles``
        ``(rows, A)``, and (``keep``) each gate's cosine and sine of the half angle
        ``(rows, gates, 2)`` for :meth:`backward`."""
        _check_table_input(angles, self._num_read, "angles")
        rows = angles.shape[0]
        result = torch.empty(rows, self.num_runs, 2, 2, dtype=torch.complex128)
        trig = torch.empty(rows, self._columns.numel(), 2, dtype=torch.float64) if keep else None
        _library().qmnist_rotation_runs(
            ctypes.c_int64(rows),
            ctypes.c_int64(angles.shape[1]),
            ctypes.c_void_p(angles.data_ptr()),
            ctypes.c_int64(self.num_runs),
            *self._table(),
            ctypes.c_void_p(result.data_ptr()),
            ctypes.c_void_p(None if trig is None else trig.data_ptr()),
        )
        return result, trig

    def backward(self, trig: torch.Tensor, grad: torch.Tensor, width: int) -> torch.Tensor:
        """The gradient ``(rows, width)`` of the angles (``width``: their columns) for the
        incoming gradient ``grad`` ``(rows, runs, 2, 2)`` of :meth:`forward`'s result
        (``trig``: what it kept)."""
        grad = grad.resolve_conj().resolve_neg().to(torch.complex128).contiguous()
        result = torch.zeros(trig.shape[0], width, dtype=torch.float64)
        work = torch.empty(4 * max(1, self._longest), dtype=torch.float64)
        _library().qmnist_rotation_runs_backward(
            ctypes.c_int64(trig.shape[0]),
            ctypes.c_int64(width),
            ctypes.c_void_p(trig.data_ptr()),
            ctypes.c_int64(self.num_runs),
            *self._table(),
            ctypes.c_void_p(grad.data_ptr()),
            ctypes.c_void_p(result.data_ptr()),
            ctypes.c_void_p(work.data_ptr()),
        )
        return result


def compiled_rotation_runs(
    runs: Sequence[Sequence[tuple[int, int]]],
) -> CompiledRotationRuns | None:
    """The runs in C form, or ``None`` where the torch path must multiply them (no compiled
    library; whether the compiled path is switched off is the caller's check, at each call)."""
    if _library() is None:
        return None
    return CompiledRotationRuns(runs)


class CompiledAngleTerms:
    """The polynomial angles of an
    :class:`~qmnist_qiskit.engines.statevector.angle_table.AngleTable` in C, forward and
    backward: one pass over each row's terms instead of two gathers, a product and an
    ``index_add`` (and their backward passes) over the whole batch. Built by
    :func:`compiled_angle_terms`.

    ``coefficients``, ``factors`` ``(2, terms)`` and ``targets``: term ``t`` adds
    ``coefficients[t] * values[factors[0, t]] * values[factors[1, t]]`` to angle
    ``targets[t]`` of ``num_angles``.
    """

    def __init__(self, coefficients, factors, targets, num_angles: int) -> None:
        self._coefficients = torch.as_tensor(coefficients, dtype=torch.float64).contiguous()
        factors = torch.as_tensor(factors, dtype=torch.int64)
        self._first = factors[0].contiguous()
        self._second = factors[1].contiguous()
        self._targets = torch.as_tensor(targets, dtype=torch.int64).contiguous()
        self.num_angles = num_angles
        self._num_values = int(factors.max()) + 1 if factors.numel() else 0

    def _arguments(self, values: torch.Tensor) -> list:
        return [
            ctypes.c_int64(values.shape[0]),
            ctypes.c_int64(values.shape[1]),
            ctypes.c_void_p(values.data_ptr()),
            ctypes.c_int64(self._coefficients.numel()),
            ctypes.c_void_p(self._coefficients.data_ptr()),
            ctypes.c_void_p(self._first.data_ptr()),
            ctypes.c_void_p(self._second.data_ptr()),
            ctypes.c_void_p(self._targets.data_ptr()),
            ctypes.c_int64(self.num_angles),
        ]

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        """Angles ``(rows, num_angles)`` from contiguous float64 ``values``
        ``(rows, num_values)``."""
        _check_table_input(values, self._num_values, "values")
        result = torch.zeros(values.shape[0], self.num_angles, dtype=torch.float64)
        _library().qmnist_angle_terms(*self._arguments(values), ctypes.c_void_p(result.data_ptr()))
        return result

    def backward(self, values: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """The gradient of ``values`` for the incoming gradient ``grad`` of the angles."""
        grad = grad.resolve_neg().to(torch.float64).contiguous()
        result = torch.zeros_like(values)
        _library().qmnist_angle_terms_backward(
            *self._arguments(values),
            ctypes.c_void_p(grad.data_ptr()),
            ctypes.c_void_p(result.data_ptr()),
        )
        return result


def compiled_angle_terms(
    coefficients, factors, targets, num_angles: int
) -> CompiledAngleTerms | None:
    """The terms in C form, or ``None`` where torch must evaluate them (no compiled library;
    whether the compiled path is switched off is the caller's check, at each call)."""
    if _library() is None:
        return None
    return CompiledAngleTerms(coefficients, factors, targets, num_angles)
