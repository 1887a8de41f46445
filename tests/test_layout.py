"""The package's shape, as toolkit/README.md draws it: stages import one way, the TensorFlow-free ones import no
TensorFlow, no file is over 400 lines, and no code outside a registry decides by a runtime, recipe or format name."""

import ast
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOOLKIT, MODELS = ROOT / "toolkit", ROOT / "models"
# The line the data travels, left to right: a stage may import itself and stages to its left (and edgebb.models).
ORDER = ["core", "runtimes", "data", "build", "training", "conversion", "benchmark", "selection", "reporting", "cli"]
TENSORFLOW_FREE = ["core", "runtimes", "data", "benchmark", "selection", "reporting", "cli"]
HEAVY = ("tensorflow", "tf_keras", "onnxruntime", "ai_edge_litert", "tf2onnx", "tensorflow_model_optimization")


def _modules(folder: pathlib.Path):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _stage(path: pathlib.Path) -> str | None:
    rel = path.relative_to(TOOLKIT).parts
    return rel[0] if len(rel) > 1 and rel[0] in ORDER else None


def _imported_stages(path: pathlib.Path) -> set[str]:
    """The edgebb stages a module imports, at module level or inside functions, by relative or absolute import."""
    tree = ast.parse(path.read_text())
    if path.is_relative_to(MODELS):
        package = ["edgebb", "models", *path.relative_to(MODELS).parts[:-1]]
    else:
        package = ["edgebb", *path.relative_to(TOOLKIT).parts[:-1]]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
                names = [target + [a.name] for a in node.names]
            else:
                names = [(node.module or "").split(".") + [a.name] for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name.split(".") for a in node.names]
        else:
            continue
        for parts in names:
            if parts[0] == "edgebb" and len(parts) > 1 and parts[1] in ORDER:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("path", [p for p in _modules(TOOLKIT) if _stage(p)],
                         ids=lambda p: str(p.relative_to(TOOLKIT)))
def test_imports_run_one_way(path):
    stage = _stage(path)
    later = {s for s in _imported_stages(path) if ORDER.index(s) > ORDER.index(stage)}
    assert not later, f"{path.relative_to(ROOT)} ({stage}) imports later stage(s) {sorted(later)}"


@pytest.mark.parametrize("path", _modules(MODELS), ids=lambda p: p.name)
def test_the_zoo_uses_only_core(path):
    assert _imported_stages(path) <= {"core"}, path


@pytest.mark.parametrize("stage", ORDER)
def test_each_stage_imports_alone(stage):
    code = (f"import sys, edgebb.{stage}; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    if stage in TENSORFLOW_FREE:
        assert out.stdout.strip() == "[]", f"importing edgebb.{stage} imported {out.stdout.strip()}"


@pytest.mark.parametrize("path", _modules(TOOLKIT) + _modules(MODELS), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_file_over_400_lines(path):
    assert len(path.read_text().splitlines()) <= 400, path


def test_no_decision_by_name_outside_the_registries():
    """`if runtime == "keras"`, `recipe.name == "dynamic"`, `fmt == "tflite"`: what differs belongs on the
    registered object. The modules that define the registered objects may name them."""
    from edgebb.conversion.recipes import RECIPES
    from edgebb.core.formats import FORMATS
    from edgebb.runtimes import RUNTIMES

    names = "|".join(re.escape(n) for n in [*RECIPES, *RUNTIMES, *FORMATS])
    pattern = re.compile(rf"\b\w*(runtime|recipe|fmt|format)\w*(\.name)?\s*(==|!=|\bin\b|\bnot in\b)\s*[(\[{{]?\s*"
                         rf"\"({names})\"")
    owners = {TOOLKIT / "core" / "formats.py", TOOLKIT / "conversion" / "recipes.py"}
    owners |= set((TOOLKIT / "runtimes").glob("*.py")) | set((TOOLKIT / "conversion" / "exporters").glob("*.py"))
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in _modules(TOOLKIT) if p not in owners
             for i, line in enumerate(p.read_text().splitlines(), start=1) if pattern.search(line)]
    assert not found, "\n".join(found)


def test_every_package_is_installed():
    """A wheel has exactly the packages pyproject.toml lists: a stage package missing there works from the checkout
    and breaks on the device."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"edgebb" + "".join(f".{part}" for part in p.parent.relative_to(TOOLKIT).parts)
             for p in TOOLKIT.rglob("__init__.py")} | {"edgebb.models"}
    assert found == listed, (sorted(found - listed), sorted(listed - found))
