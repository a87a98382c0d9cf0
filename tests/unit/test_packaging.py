"""What ships: the wheel, the container image's recipe and the Helm chart agree.

There is no Docker engine here, so the image is checked by what can be checked without one: the
wheel is built from exactly the files the Dockerfile copies, installed into a fresh venv with its
dependencies from PyPI (as the builder stage does) and run from there; and the Dockerfile's
ENTRYPOINT, CMD and USER are compared with the chart. The install takes ~30-60 s (network).
"""

import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "wrapped-gateway"
DOCKERFILE = REPO / "Dockerfile"


def stages(dockerfile: str) -> list[list[tuple[str, str]]]:
    """The Dockerfile as stages of (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile)
    result: list[list[tuple[str, str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            result.append([])
        if result:
            result[-1].append((instruction.upper(), arguments.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    return stages(DOCKERFILE.read_text())[-1]


def instruction(stage: list[tuple[str, str]], name: str) -> str:
    (found,) = [args for inst, args in stage if inst == name]
    return found


def values() -> dict[str, Any]:
    result: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return result


def test_the_image_runs_wrapped_gateway_run_as_the_charts_user() -> None:
    final = final_stage()
    assert json.loads(instruction(final, "ENTRYPOINT")) == ["wrapped-gateway"]
    assert json.loads(instruction(final, "CMD")) == ["run"]
    user = instruction(final, "USER").split(":")
    assert int(user[0]) == values()["securityContext"]["runAsUser"] == 65532
    assert int(user[1]) == values()["securityContext"]["runAsGroup"] == 65532
    assert values()["podSecurityContext"]["runAsUser"] == 65532
    # the console script the ENTRYPOINT names exists
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["wrapped-gateway"] == "wrapped_gateway.cli:console"
    # the chart passes arguments only, starting with `run`, and keeps the ENTRYPOINT
    deployment = (CHART / "templates" / "deployment.yaml").read_text()
    assert "command:" not in deployment
    assert re.search(r"args:\n\s+- run\n", deployment)


def test_the_image_is_multi_stage_and_slim_without_build_tools() -> None:
    all_stages = stages(DOCKERFILE.read_text())
    assert len(all_stages) >= 2
    arg_default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert arg_default
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", arg_default.group(1))
    final = final_stage()
    assert final[0] == ("FROM", "${PYTHON_IMAGE}")
    builder = all_stages[0]
    assert "pip wheel" in " ".join(args for inst, args in builder if inst == "RUN")
    # the final stage only copies the built venv and removes pip; it installs nothing
    copies = [args for inst, args in final if inst == "COPY"]
    assert copies
    assert all(args.startswith("--from=builder ") for args in copies)
    final_runs = " ".join(args for inst, args in final if inst == "RUN")
    for tool in ("apt-get", "gcc", "build-essential", "pip install", "pip wheel"):
        assert tool not in final_runs
    assert "uninstall" in final_runs


def test_the_chart_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"]
    assert values()["image"]["tag"] == ""  # the tag defaults to appVersion


def test_the_charts_crd_is_the_repositorys_crd() -> None:
    """One source: helm/wrapped-gateway/crds/ holds a byte-identical copy of crds/."""
    top = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    assert top == sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    for name in top:
        assert (CHART / "crds" / name).read_bytes() == (REPO / "crds" / name).read_bytes(), (
            f"cp crds/{name} helm/wrapped-gateway/crds/{name}"
        )


def test_the_values_schema_describes_every_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False

    def check(node: dict[str, Any], value: Any, path: str) -> None:
        if isinstance(value, dict) and node.get("properties") is not None:
            for key, item in value.items():
                assert key in node["properties"], f"{path}.{key} is not in values.schema.json"
                check(node["properties"][key], item, f"{path}.{key}")

    check(schema, values(), "values")


def _normalized(distribution: str) -> str:
    """A distribution name as PEP 503 compares them: PyYAML, pyyaml and py_yaml are one."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


def test_every_third_party_module_the_package_imports_is_a_declared_dependency() -> None:
    """A module that only arrives as someone else's dependency can vanish with their release."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = set()
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert name, requirement
        declared.add(_normalized(name[0]))
    distributions = importlib.metadata.packages_distributions()
    undeclared = set()
    for path in sorted((REPO / "wrapped_gateway").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                if top in sys.stdlib_module_names or top == "wrapped_gateway":
                    continue
                providers = {_normalized(d) for d in distributions.get(top, [top])}
                if not providers & declared:
                    undeclared.add(f"{top} ({path.relative_to(REPO)})")
    assert not undeclared, f"add to [project] dependencies: {sorted(undeclared)}"


def _dockerfile_context(target: Path) -> Path:
    """The build context the Dockerfile's builder stage sees: exactly the files it COPYs."""
    target.mkdir(parents=True)
    for inst, args in stages(DOCKERFILE.read_text())[0]:
        if inst == "COPY":
            *sources, _ = args.split()
            for source in sources:
                path = REPO / source
                if path.is_dir():
                    shutil.copytree(
                        path, target / source, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:
                    shutil.copy2(path, target / source)
    return target


def test_the_wheel_installs_into_a_fresh_venv_and_runs(tmp_path: Path) -> None:
    context = _dockerfile_context(tmp_path / "context")
    wheels = tmp_path / "wheels"
    pip_env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(context), "--no-deps", "-q", "-w", str(wheels)],
        check=True,
        env=pip_env,
        timeout=300,
    )
    (wheel,) = wheels.glob("wrapped_gateway-*.whl")
    listing = subprocess.run(
        [sys.executable, "-m", "zipfile", "-l", str(wheel)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "wrapped_gateway/cli.py" in listing
    assert "tests/" not in listing

    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(environment)
    python = environment / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
        env=pip_env,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    # nothing of this checkout leaks in: run from an empty directory, no PYTHONPATH
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run_dir = tmp_path / "elsewhere"
    run_dir.mkdir()

    def installed(program: str, *args: str) -> subprocess.CompletedProcess[str]:
        """`program` of the fresh venv, run with `args` from the empty directory."""
        ran = subprocess.run(
            [str(environment / "bin" / program), *args],
            capture_output=True,
            text=True,
            check=False,
            cwd=run_dir,
            env=clean_env,
        )
        assert ran.returncode == 0, ran.stderr
        return ran

    located = installed("python", "-c", "import wrapped_gateway; print(wrapped_gateway.__file__)")
    assert located.stdout.startswith(str(environment)), located.stdout

    helped = installed("wrapped-gateway", "--help")
    assert "render" in helped.stdout
    assert "run" in helped.stdout
    run_help = installed("wrapped-gateway", "run", "--help")
    # every flag the chart passes exists
    for flag in re.findall(r"- (--[a-z-]+)", (CHART / "templates" / "deployment.yaml").read_text()):
        assert flag in run_help.stdout, flag

    rendered = installed("wrapped-gateway", "render", "-f", str(REPO / "examples"))
    gateways = [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]
    assert gateways
    assert all(doc["kind"] == "Gateway" for doc in gateways)
    # every module of the wheel imports from the wheel alone (__main__ would run the command)
    installed(
        "python",
        "-c",
        "import importlib, pkgutil, wrapped_gateway\n"
        "for module in pkgutil.walk_packages(wrapped_gateway.__path__, 'wrapped_gateway.'):\n"
        "    if module.name != 'wrapped_gateway.__main__':\n"
        "        importlib.import_module(module.name)\n",
    )


def test_no_module_of_the_package_reaches_into_the_checkout() -> None:
    """The wheel holds wrapped_gateway/ alone: a module that puts hack/ on sys.path, or finds
    the repository's files from its own path, would fail where the wheel is installed (which
    is why the demo, which needs both, is hack/demo.py)."""
    reaching = []
    for path in sorted((REPO / "wrapped_gateway").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (isinstance(node, ast.Name) and node.id == "__file__") or (
                isinstance(node, ast.Attribute)
                and node.attr == "path"
                and isinstance(node.value, ast.Name)
                and node.value.id == "sys"
            ):
                reaching.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert reaching == []


@pytest.mark.parametrize("path", [".dockerignore"])
def test_the_docker_build_context_is_only_what_the_image_needs(path: str) -> None:
    lines = [
        line.strip()
        for line in (REPO / path).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line.removeprefix("!").rstrip("/") for line in lines if line.startswith("!")}
    copied = {
        source.rstrip("/")
        for inst, args in stages(DOCKERFILE.read_text())[0]
        if inst == "COPY"
        for source in args.split()[:-1]
    }
    assert copied <= allowed
