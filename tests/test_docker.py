"""The CPU and GPU Dockerfiles and compose files, read (CI has no Docker engine): every path they
copy exists, and the compose files run modules that exist."""

from __future__ import annotations

import importlib.util
import re

import pytest
import yaml

from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.gpu"])
def test_every_path_a_dockerfile_copies_exists(dockerfile: str) -> None:
    text = (REPO_ROOT / dockerfile).read_text()
    copied = [source for line in re.findall(r"^COPY (.+)$", text, re.M) for source in line.split()[:-1]]
    assert copied, dockerfile
    assert [path for path in copied if not (REPO_ROOT / path).exists()] == []
    assert re.search(r"^USER (?!root)\w+", text, re.M), "the server does not run as root"


@pytest.mark.parametrize("compose", ["deploy/docker-compose.yml", "deploy/docker-compose.gpu.yml"])
def test_compose_files_build_from_the_repository_and_run_modules_that_exist(compose: str) -> None:
    document = yaml.safe_load((REPO_ROOT / compose).read_text())
    for name, service in document["services"].items():
        build = service["build"]
        assert (REPO_ROOT / "deploy" / build["context"] / build["dockerfile"]).exists(), name
        command = service.get("command", [])
        if command[:2] == ["python", "-m"]:
            assert importlib.util.find_spec(command[2]) is not None, (name, command)
