"""The API protos pass `buf lint` (STANDARD, see buf.yaml) and `buf build` with the real buf CLI."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
BUF = REPO_ROOT / ".tools" / "node_modules" / ".bin" / "buf"


def _buf(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess[str]:
    if not BUF.exists():
        pytest.fail(
            f"buf CLI not found at {BUF}: run `make setup` "
            "(it runs `npm install --no-save --prefix .tools @bufbuild/buf@1.75.0`)"
        )
    return subprocess.run(
        [str(BUF), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_buf_lint() -> None:
    result = _buf("lint")
    assert result.returncode == 0, f"buf lint failed:\n{result.stdout}{result.stderr}"


def test_buf_build() -> None:
    result = _buf("build", "-o", "/dev/null")
    assert result.returncode == 0, f"buf build failed:\n{result.stdout}{result.stderr}"


def test_lint_catches_a_bad_proto(tmp_path: Path) -> None:
    """The lint check can fail: a copy of the workspace with a badly named field does not pass."""
    for name in ("proto", "third_party"):
        shutil.copytree(REPO_ROOT / name, tmp_path / name)
    shutil.copy(REPO_ROOT / "buf.yaml", tmp_path / "buf.yaml")
    types_proto = tmp_path / "proto" / "datalid" / "v1" / "types.proto"
    types_proto.write_text(types_proto.read_text() + "\nmessage badName {\n  string BadField = 1;\n}\n")
    result = _buf("lint", cwd=tmp_path)
    assert result.returncode != 0
    assert "badName" in result.stdout + result.stderr


def test_missing_buf_fails_and_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(globals(), "BUF", tmp_path / "no-buf")
    with pytest.raises(pytest.fail.Exception, match="run `make setup`"):
        _buf("lint")
