"""Atomic output files: whole or absent, errors naming the user's path."""

from __future__ import annotations

import os
import stat

import pytest

from qmnist_qiskit.exceptions import QMNISTError
from qmnist_qiskit.files import atomic_path, check_writable, write_text


def test_write_text_replaces_whole_and_leaves_no_partial(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_written_file_has_the_mode_of_a_plain_open(tmp_path):
    plain = tmp_path / "plain"
    plain.write_text("x")
    write_text(tmp_path / "atomic", "x")
    mode = stat.S_IMODE(os.stat(tmp_path / "atomic").st_mode)
    assert mode == stat.S_IMODE(os.stat(plain).st_mode)


def test_failure_inside_the_block_keeps_the_old_file_and_removes_the_partial(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as partial:
            partial.write_text("half")
            raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "the file name is empty"),
        (".", "it is a directory"),
        ("missing/model.safetensors", "does not exist"),
        ("file.txt/model.safetensors", "is not a directory"),
    ],
)
def test_impossible_targets_name_the_users_path(tmp_path, monkeypatch, name, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(QMNISTError, match=message) as info:
        write_text(name, "x")
    assert repr(name) in str(info.value) or name in str(info.value)
    assert ".partial" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_directory_is_refused_before_writing(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(QMNISTError, match="no permission"):
            check_writable(folder / "a.txt")
    finally:
        folder.chmod(0o700)


def test_os_error_while_renaming_names_the_target(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(QMNISTError, match=f"cannot write {target}"):
        with atomic_path(target) as partial:
            partial.write_text("x")
            # A directory appears where the file goes: os.replace fails with an OSError.
            target.mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    assert target.is_dir()
