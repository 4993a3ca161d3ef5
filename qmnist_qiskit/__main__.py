"""``python -m qmnist_qiskit``: the same as the ``qmnist`` command."""

from qmnist_qiskit.cli import main

raise SystemExit(main())
