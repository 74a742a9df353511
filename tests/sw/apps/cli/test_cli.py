"""The `conveyor` command: every user error is one line and exit 1, never a traceback."""

import json
import subprocess
from pathlib import Path

import pytest

from conveyor.hw.machine.config import PRESETS
from conveyor.hw.machine.program import cycle_count
from conveyor.sw.apps.cli import main
from conveyor.sw.asm import assemble_file

ROOT = Path(__file__).resolve().parents[4]
EXAMPLES = sorted((ROOT / "examples").glob("*.s"))  # every example runs on small16


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_configs_lists_every_preset(capsys):
    code, out, _ = run_cli(capsys, "configs")
    assert code == 0
    for name in PRESETS:
        assert f"{name}: " in out
    code, out, _ = run_cli(capsys, "configs", "--json")
    assert json.loads(out)["small16"]["lanes"] == 16


def test_examples_run_on_the_golden_model(capsys, example, example_config):
    config = example_config
    code, out, err = run_cli(capsys, "run", example, "-c", config, "--backend", "golden",
                             "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["backend"] == "golden" and report["config"] == config
    assert report["cycles"] == cycle_count(assemble_file(example, PRESETS[config]))


def test_dump_prints_words(capsys):
    code, out, _ = run_cli(capsys, "run", ROOT / "examples/vector_add.s", "--dump", "mem4:0:2",
                           "--json")
    assert code == 0
    words = json.loads(out)["dump"]["mem4:0:2"]
    assert len(words) == 2 and len(words[0]) == PRESETS["small16"].lanes


def test_asm_disasm_round_trip_is_byte_identical(capsys, tmp_path):
    for example in EXAMPLES:
        first, second, text = tmp_path / "a.bin", tmp_path / "b.bin", tmp_path / "d.s"
        assert run_cli(capsys, "asm", example, "-o", first)[0] == 0
        assert run_cli(capsys, "disasm", first, "-o", text)[0] == 0
        assert run_cli(capsys, "asm", text, "-o", second)[0] == 0
        assert first.read_bytes() == second.read_bytes(), example.name


def test_image_for_another_config_is_refused(capsys, tmp_path):
    image = tmp_path / "tiny.bin"
    assert run_cli(capsys, "asm", ROOT / "examples/vector_add.s", "-c", "tiny", "-o", image)[0] == 0
    code, out, err = run_cli(capsys, "run", image, "-c", "small16")
    assert code == 1 and out == ""
    assert "tiny" in err and "small16" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv, message", [
    (["run", "nope.s"], "nope.s"),
    (["run", "examples/vector_add.s", "--dump", "mem4:0"], "expected SLICE:ADDR:COUNT"),
    (["run", "examples/vector_add.s", "--dump", "vxm0:0:1"], "no MEM slice 'vxm0'"),
    (["run", "examples/vector_add.s", "--dump", "mem4:1020:8"], "outside 0..1023"),
    (["run", "examples/vector_add.s", "-c", "huge"], "unknown config 'huge'"),
    (["run", "examples/vector_add.s", "--waves", "x.fst"], "--waves needs --backend verilator"),
    (["disasm", "examples/vector_add.s"], "not a Conveyor program image"),
])
def test_user_errors_are_one_line(capsys, monkeypatch, argv, message):
    monkeypatch.chdir(ROOT)
    code, _out, err = run_cli(capsys, *argv)
    assert code == 1
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_assembly_prints_file_line_col_without_traceback(tmp_path):
    source = tmp_path / "bad.s"
    source.write_text(".queue mem0.rd\n    read 0 -> e0\n    frobnicate e1\n")
    done = subprocess.run(["conveyor", "asm", str(source)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 1
    assert done.stderr.startswith(f"{source}:3:5: ")
    assert "Traceback" not in done.stderr


def test_cosim_reports_programs_and_mismatches(capsys, tmp_path):
    code, out, err = run_cli(capsys, "cosim", "-c", "tiny", "--seeds", "3", "--json",
                             "-o", tmp_path)
    assert code == 0, err
    report = json.loads(out)
    assert report["programs"] == 3 and report["mismatches"] == 0
    assert report["ops"]["read"] > 0 and report["ops"]["write"] > 0
    assert run_cli(capsys, "cosim", "--seeds", "0")[0] == 1
