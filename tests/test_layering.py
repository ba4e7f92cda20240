"""Data flows one way: server -> pipeline -> models. The pipeline never imports gRPC or protobuf."""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
_FORBIDDEN_IN_PIPELINE = (
    "grpc",
    "grpc_status",
    "grpc_health",
    "grpc_reflection",
    "google",
    "datalid",
    "server",
)


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_pipeline_imports_neither_grpc_nor_protobuf_nor_the_server() -> None:
    offenders = {
        str(path.relative_to(REPO_ROOT)): sorted(_imported_roots(path) & set(_FORBIDDEN_IN_PIPELINE))
        for path in (REPO_ROOT / "pipeline").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_client_does_not_import_the_server_or_pipeline() -> None:
    for path in (REPO_ROOT / "clients" / "python" / "datalid_client").rglob("*.py"):
        assert not _imported_roots(path) & {"server", "pipeline"}, path


def test_serving_code_never_imports_the_trainer_or_its_dependencies() -> None:
    # models/ holds training tools and their extra (PyTorch); serving reads only the exported ONNX
    # files. The onnx package (a runtime dependency) only rewrites initializers for a weights patch.
    onnx_allowed = {REPO_ROOT / "pipeline" / "weights_patch.py"}
    for folder in ("server", "pipeline"):
        for path in (REPO_ROOT / folder).rglob("*.py"):
            forbidden = {"models", "torch"} | (set() if path in onnx_allowed else {"onnx"})
            assert not _imported_roots(path) & forbidden, path


# server/ by area, lowest first: a module may import its own area's modules and those of the areas
# below it, never above, so the arrows of the tree point one way (README "Layout").
_SERVER_LAYERS: tuple[tuple[str, ...], ...] = (
    ("server.request_context", "server.process", "server.host"),
    ("server.errors",),
    ("server.fetch", "server.jobs.records", "server.jobs.page_tokens"),
    ("server.config", "server.convert", "server.jobs"),
    ("server.edge",),
    ("server.api", "server.kserve"),
    ("server.rest",),
    ("server.app",),
    ("server.supervisor", "server.launch", "server.__main__"),
)


def _area(module: str) -> int:
    """The layer of ``module``: that of its longest listed prefix."""
    best = -1, -1
    for rank, areas in enumerate(_SERVER_LAYERS):
        for area in areas:
            if (module == area or module.startswith(area + ".")) and len(area) > best[1]:
                best = rank, len(area)
    assert best[0] >= 0, f"{module} is in no layer of _SERVER_LAYERS"
    return best[0]


def _server_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("server.")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "server":
                found |= {f"server.{alias.name}" for alias in node.names if alias.name != "__version__"}
            elif node.module.startswith("server."):
                found.add(node.module)
    return found


def test_server_areas_import_only_their_own_and_lower_ones() -> None:
    upward = {}
    for path in (REPO_ROOT / "server").rglob("*.py"):
        module = ".".join(path.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__init__")
        if module == "server":
            continue
        rank = _area(module)
        above = sorted(name for name in _server_imports(path) if _area(name) > rank)
        if above:
            upward[module] = above
    assert upward == {}
