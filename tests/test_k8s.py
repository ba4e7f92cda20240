"""deploy/k8s: every manifest valid against the Kubernetes schemas (kubernetes-validate, strict),
and the pieces agree with each other and with the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from server.config import OPTIONS
from tests.conftest import REPO_ROOT

K8S = REPO_ROOT / "deploy" / "k8s"
# The Kubernetes version the manifests are checked against (the schemas kubernetes-validate ships).
VERSION = "1.33.0"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    listed = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    return [(name, doc) for name in listed for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def _by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in _documents() if doc["kind"] == kind}


@pytest.mark.parametrize(
    ("name", "document"), _documents(), ids=lambda v: v if isinstance(v, str) else v["kind"]
)
def test_every_manifest_is_valid_kubernetes(name: str, document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, VERSION, strict=True)


def test_services_select_the_pods_and_ports_they_name() -> None:
    deployments = _by_kind("Deployment")
    for service in _by_kind("Service").values():
        selector = service["spec"]["selector"]
        matched = [
            d
            for d in deployments.values()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matched) == 1, service["metadata"]["name"]
        ports = {p["name"] for c in matched[0]["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def test_the_server_pods_probe_grpc_health_and_use_real_settings() -> None:
    server = _by_kind("Deployment")["datalid"]["spec"]["template"]["spec"]
    (container,) = server["containers"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["grpc"]["port"] == 50051
    settings = {f"DATALID_{option.name.upper()}" for option in OPTIONS}
    assert {e["name"] for e in container["env"]} <= settings, "every variable is a server setting"
    grace = next(int(e["value"]) for e in container["env"] if e["name"] == "DATALID_GRACE_S")
    assert server["terminationGracePeriodSeconds"] > grace, "the drain finishes before the kill"
    # One worker per requested core: the worker count follows the request, whatever it is set to.
    workers = next(e for e in container["env"] if e["name"] == "DATALID_WORKERS")
    assert workers["valueFrom"]["resourceFieldRef"] == {
        "containerName": container["name"],
        "resource": "requests.cpu",
        "divisor": "1",
    }
    assert int(container["resources"]["requests"]["cpu"]) >= 2
    # The pods share their jobs in PostgreSQL, its URL (a password in it) from a Secret.
    store = next(e for e in container["env"] if e["name"] == "DATALID_JOB_STORE_URL")
    secret = store["valueFrom"]["secretKeyRef"]
    assert secret["key"] in _by_kind("Secret")[secret["name"]]["stringData"]
    assert not any(e["name"] == "DATALID_JOB_DB_PATH" for e in container["env"])
    hpa = _by_kind("HorizontalPodAutoscaler")["datalid"]["spec"]["scaleTargetRef"]
    assert (hpa["kind"], hpa["name"]) == ("Deployment", "datalid")
    assert _by_kind("PodDisruptionBudget")["datalid"]["spec"]["selector"]["matchLabels"].items() <= (
        _by_kind("Deployment")["datalid"]["spec"]["template"]["metadata"]["labels"].items()
    )


def test_envoy_reaches_every_server_pod_through_the_headless_service() -> None:
    envoy = _by_kind("Deployment")["datalid-envoy"]["spec"]["template"]["spec"]["containers"][0]
    upstream = envoy["command"][envoy["command"].index("--upstream") + 1]
    host, port = upstream.split(":")
    service = _by_kind("Service")[host]
    assert service["spec"]["clusterIP"] == "None", "per-request balancing needs every pod's address"
    assert int(port) in {p["port"] for p in service["spec"]["ports"]}
    assert Path(REPO_ROOT / "server" / "rest" / "sidecar.py").exists() and envoy["command"][:3] == [
        "python",
        "-m",
        "server.rest.sidecar",
    ]


def test_the_validator_catches_a_broken_manifest() -> None:
    server = dict(_by_kind("Deployment")["datalid"])
    broken = {**server, "spec": {**server["spec"], "replicas": "two", "replicaz": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSION, strict=True)
