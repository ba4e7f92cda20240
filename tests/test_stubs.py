"""The committed stubs in clients/python/datalid are exactly what generate_stubs.py makes from proto/."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CLIENT_ROOT = REPO_ROOT / "clients" / "python"
COMMITTED = CLIENT_ROOT / "datalid"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_stubs", CLIENT_ROOT / "generate_stubs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path, bytecode caches left out."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def stale_files(committed: Path, generated: Path) -> list[str]:
    """Human-readable differences between the committed stubs and a fresh generation."""
    have, want = _files(committed), _files(generated)
    problems = [f"{name}: differs" for name in sorted(have.keys() & want.keys()) if have[name] != want[name]]
    problems += [
        f"{name}: missing (generated but not committed)" for name in sorted(want.keys() - have.keys())
    ]
    problems += [f"{name}: extra (committed but not generated)" for name in sorted(have.keys() - want.keys())]
    return problems


def _generate(tmp_path: Path) -> Path:
    out = tmp_path / "out"
    _load_generator().generate(out)
    return out / "datalid"


def test_committed_stubs_are_up_to_date(tmp_path: Path) -> None:
    problems = stale_files(COMMITTED, _generate(tmp_path))
    assert not problems, (
        "clients/python/datalid is stale; run `python clients/python/generate_stubs.py` and commit:\n  "
        + "\n  ".join(problems)
    )


def test_a_proto_edit_without_regeneration_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: generate from an edited copy of proto/ and compare."""
    protos = tmp_path / "proto"
    shutil.copytree(REPO_ROOT / "proto", protos)
    types_proto = protos / "datalid" / "v1" / "types.proto"
    text = types_proto.read_text()
    marker = "message BoundingBox {"
    assert marker in text
    types_proto.write_text(text.replace(marker, marker + "\n  float rotation_deg = 99;", 1))

    generator = _load_generator()
    monkeypatch.setattr(generator, "PROTO_ROOT", protos)
    out = tmp_path / "out"
    generator.generate(out)
    problems = stale_files(COMMITTED, out / "datalid")
    assert "v1/types_pb2.py: differs" in problems
    assert "v1/types_pb2.pyi: differs" in problems


def test_missing_and_extra_files_are_named(tmp_path: Path) -> None:
    committed = tmp_path / "committed"
    shutil.copytree(COMMITTED, committed, ignore=shutil.ignore_patterns("__pycache__"))
    (committed / "v1" / "admin_service_pb2_grpc.py").unlink()
    (committed / "v1" / "leftover_pb2.py").write_text("# from a deleted proto\n")
    problems = stale_files(committed, _generate(tmp_path))
    assert problems == [
        "v1/admin_service_pb2_grpc.py: missing (generated but not committed)",
        "v1/leftover_pb2.py: extra (committed but not generated)",
    ]
