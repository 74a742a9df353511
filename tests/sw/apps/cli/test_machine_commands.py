"""`conveyor configs` and `conveyor isa`: every named core, -c wherever a core is meant."""

import json
import subprocess
import sys

from conveyor.hw.machine.config import PRESETS, board_cores, load_config
from conveyor.sw.apps.cli import main


def test_configs_lists_the_presets_and_the_board_cores(capsys):
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    for name in [*PRESETS, "ulx3s-core", "icebreaker-core"]:
        assert f"\n{name}" in "\n" + out, name
    assert "ulx3s-core (ulx3s-core.toml): 8 lanes" in out
    assert main(["configs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert set(listed) == {*PRESETS, *board_cores()}
    assert listed["ulx3s-core"] == load_config("ulx3s-core").to_dict()


def test_configs_and_isa_take_a_config(capsys):
    assert main(["configs", "-c", "icebreaker-core", "--json"]) == 0
    assert list(json.loads(capsys.readouterr().out)) == ["icebreaker-core"]
    assert main(["isa", "-c", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "## On `tiny`" in out and "| `addr` | 0..255 |" in out and "`vxm0.alu1`" in out
    assert main(["isa"]) == 0
    assert "## On" not in capsys.readouterr().out


def test_a_closed_pipe_ends_quietly():
    """`conveyor configs --json | head -1`: no BrokenPipeError traceback."""
    done = subprocess.run(f"{sys.executable} -m conveyor configs --json | head -1",
                          shell=True, capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout == "{\n"
    assert done.stderr == ""


def test_help_says_which_commands_take_a_config():
    done = subprocess.run([sys.executable, "-m", "conveyor", "--help"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert "A command that works on a core takes -c/--config" in done.stdout
    assert "ulx3s-core" in done.stdout
