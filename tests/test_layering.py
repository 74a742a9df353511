"""The layers hold: the machine description stands alone, the host driver and the compiler need
no Amaranth and no simulator, and only the applications import both the RTL and the simulators.

Imports are read from the sources (every ``import``, also those inside functions, which run
later), so a lazy import cannot hide a dependency; a fresh interpreter then checks what the
driver and the compiler really load.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Import name -> source folder (pyproject.toml's package-dir).
PACKAGES = {"conveyor": ROOT / "conveyor", "conveyor.hw": ROOT / "hw",
            "conveyor.sw": ROOT / "sw", "conveyor.sim": ROOT / "sim"}


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join((package, *parts))
            found.setdefault(name, path)  # conveyor/ holds only its own files
    return found


MODULES = _modules()


@cache
def imports_of(module: str) -> frozenset[str]:
    """Every module ``module``'s source imports, directly (third-party ones by top name)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{alias.name}" for alias in node.names
                       if f"{target}.{alias.name}" in MODULES)
    return frozenset(name if name.startswith("conveyor") else name.split(".")[0]
                     for name in out)


def closure(module: str) -> frozenset[str]:
    """``module`` and everything it imports, transitively (a package counts as imported with
    its ``__init__``)."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for dep in imports_of(name) if name in MODULES else ():
            todo.append(dep)
            parts = dep.split(".")
            todo += [".".join(parts[:k]) for k in range(1, len(parts))]  # parent packages
    return frozenset(seen)


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


DESCRIPTION = "conveyor.hw.machine"
RTL = ("conveyor.hw.rtl", "conveyor.hw.boards")
SIMULATORS = "conveyor.sim"
APPLICATIONS = "conveyor.sw.apps"


def _named(prefix: str) -> list[str]:
    return sorted(m for m in MODULES if _under(m, prefix))


@pytest.mark.parametrize("module", _named(DESCRIPTION))
def test_the_description_imports_nothing_above_it(module):
    above = {m for m in imports_of(module) if m.startswith("conveyor")
             and not _under(m, DESCRIPTION, "conveyor.errors", "conveyor.hw", "conveyor")}
    assert not above, f"{module} imports {sorted(above)}"
    assert "amaranth" not in imports_of(module)


@pytest.mark.parametrize("module", [*_named("conveyor.sw.host"), *_named("conveyor.sw.compiler"),
                                    *_named("conveyor.sw.ir"), *_named("conveyor.sw.asm"),
                                    *_named("conveyor.sw.frontends")])
def test_the_host_driver_and_the_compiler_need_no_amaranth_and_no_simulator(module):
    needs = closure(module)
    assert "amaranth" not in needs, f"{module} needs Amaranth"
    bad = sorted(m for m in needs if _under(m, SIMULATORS, *RTL))
    assert not bad, f"{module} needs {bad}"


@pytest.mark.parametrize("module", [m for m in MODULES if not _under(m, APPLICATIONS)])
def test_only_the_applications_import_both_the_rtl_and_the_simulators(module):
    direct = imports_of(module)
    rtl = any(_under(m, *RTL) for m in direct)
    sims = any(_under(m, SIMULATORS) for m in direct)
    if _under(module, SIMULATORS):  # a simulator may stand on the RTL, not the reverse
        return
    assert not (rtl and sims), f"{module} imports both the RTL and the simulators"
    if _under(module, *RTL):
        assert not sims, f"{module} (RTL) imports a simulator"


def test_the_golden_model_imports_without_the_hdl():
    assert "amaranth" not in closure("conveyor.sim.golden")
    assert not any(_under(m, *RTL) for m in closure("conveyor.sim.golden"))


def test_a_fresh_interpreter_loads_the_driver_and_the_compiler_without_amaranth():
    """What the sources say, checked by running them: the README's snippets work as written."""
    code = ("import sys\n"
            "from conveyor.sw.ir.reference import evaluate\n"
            "import conveyor.sw.host.driver, conveyor.sw.compiler\n"
            "loaded = [m for m in sys.modules if m.startswith(('amaranth', 'conveyor.sim'))]\n"
            "print(loaded)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd="/", check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_checker_sees_the_dependencies_that_exist():
    """The rules above are not vacuous: the import graph they read has the known edges."""
    assert "amaranth" in closure("conveyor.hw.rtl.core")
    assert "conveyor.sim.golden" in closure("conveyor.sw.apps.demo")
    assert "conveyor.hw.machine.isa" in imports_of("conveyor.hw.machine.timing")
    assert "conveyor.sw.ir.reference" in imports_of("conveyor.sw.compiler")
    assert "conveyor.sim.golden" in closure("conveyor.sw.apps.cli")  # lazy imports count
    assert len(_named(DESCRIPTION)) >= 8


def test_every_module_of_the_description_imports_first_in_a_fresh_interpreter():
    """No import cycle hides behind an import order that happens to work."""
    names = _named(DESCRIPTION)
    code = ("import importlib, subprocess, sys\n"
            f"for name in {names!r}:\n"
            "    done = subprocess.run([sys.executable, '-c', f'import {name}'],\n"
            "                          capture_output=True, text=True)\n"
            "    if done.returncode:\n"
            "        print(name, done.stderr.splitlines()[-1])\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd="/", check=False, timeout=300)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
