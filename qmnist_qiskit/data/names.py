"""``class_names``: what the labels 0..9 of a dataset mean, when the data say so.

IDX files carry numbers only: Fashion-MNIST's labels are digits like MNIST's. A dataset is
known by its test labels (the SHA-256 of the decompressed ``t10k-labels-idx1-ubyte``, 10,008
bytes, so recognising it costs nothing), or named by a ``class_names.txt`` beside the IDX
files (one name per line, label 0 first), which wins. MNIST's labels are their own names.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

from qmnist_qiskit.data.idx import IDX_FILE_NAMES, N_CLASSES, _find_file
from qmnist_qiskit.exceptions import QMNISTError

CLASS_NAMES_FILE = "class_names.txt"
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""Fashion-MNIST's ten classes, label 0 first (zalandoresearch/fashion-mnist's README)."""
_KNOWN_TEST_LABELS = {
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34": FASHION_MNIST_CLASSES,
}


def _test_labels_digest(folder: Path) -> str | None:
    try:
        path = _find_file(folder, IDX_FILE_NAMES["test"][1])
    except QMNISTError:
        return None
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            return hashlib.sha256(stream.read(1 << 16)).hexdigest()
    except (OSError, EOFError, gzip.BadGzipFile):
        return None


def class_names(path: str | os.PathLike[str] | None = None) -> list[str] | None:
    """The names of labels 0..9 of the data :func:`~qmnist_qiskit.load_mnist` reads from
    ``path``, or ``None`` when the labels name themselves (MNIST's digits, the bundled subset,
    an unknown dataset).

    Parameters
    ----------
    path : str or os.PathLike or None
        ``None`` (the bundled MNIST subset) or a directory of IDX files.

    Returns
    -------
    list of str or None
        From ``class_names.txt`` in the directory when there is one (exactly ten non-empty
        lines), else Fashion-MNIST's ten names when its test labels are there, else ``None``.

    Raises
    ------
    QMNISTError
        When ``class_names.txt`` cannot be read or does not hold ten names.

    Examples
    --------
    >>> class_names() is None
    True
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "class_names.txt").write_text("\\n".join("abcdefghij"))
    >>> class_names(folder)[:3]
    ['a', 'b', 'c']
    """
    if path is None:
        return None
    folder = Path(path)
    names_file = folder / CLASS_NAMES_FILE
    if names_file.is_file():
        try:
            lines = names_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise QMNISTError(f"{names_file}: cannot read the class names: {exc}") from exc
        names = [line.strip() for line in lines if line.strip()]
        if len(names) != N_CLASSES:
            raise QMNISTError(
                f"{names_file}: expected {N_CLASSES} class names, one per line, got {len(names)}"
            )
        return names
    known = _KNOWN_TEST_LABELS.get(_test_labels_digest(folder))
    return None if known is None else list(known)
