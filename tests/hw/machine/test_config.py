"""CoreConfig: presets, derived geometry, validation messages, TOML loading."""

import pytest

from conveyor.errors import ConfigError
from conveyor.hw.machine.config import PRESETS, CoreConfig, load_config

BASE = {"name": "t", "lanes": 4, "streams": 4, "floorplan": ("mem", "vxm", "mem"), "mem_depth": 64,
            "vxm_alus": 1}


def test_presets_have_the_documented_geometry():
    tiny, small = PRESETS["tiny"], PRESETS["small16"]
    assert (tiny.lanes, tiny.streams, tiny.mem_depth) == (4, 4, 256)
    assert (small.lanes, small.streams, small.mem_depth) == (16, 8, 1024)
    assert small.vxm_alus >= 2
    assert [s.name for s in small.slices][:5] == ["mem0", "mem1", "mem2", "mem3", "vxm0"]
    assert PRESETS["tsp"].lanes == 320 and len(PRESETS["tsp"].mem_slices) == 88


def test_queues_follow_the_floorplan():
    two = CoreConfig(**BASE)
    assert [q.name for q in two.queues] == ["mem0.rd", "mem0.wr", "vxm0.alu0", "mem1.rd",
                                            "mem1.wr"]
    one = CoreConfig(**{**BASE, "mem_ports": 1, "vxm_alus": 2})
    assert [q.name for q in one.queues] == ["mem0", "vxm0.alu0", "vxm0.alu1", "mem1"]
    assert [q.slice.position for q in one.queues] == [0, 1, 1, 2]


def test_fingerprint_is_geometry_not_name():
    a = CoreConfig(**BASE)
    assert CoreConfig(**{**BASE, "name": "other", "clock_mhz": 50}).fingerprint == a.fingerprint
    assert CoreConfig(**{**BASE, "mem_depth": 128}).fingerprint != a.fingerprint
    assert len(a.fingerprint) == 8


@pytest.mark.parametrize("change, message", [
    ({"lanes": 6}, "lanes must be a multiple of 4, not 6"),
    ({"lanes": 0}, "lanes must be between 4 and 1024, not 0"),
    ({"lanes": "4"}, "lanes must be an integer, not '4'"),
    ({"streams": 6}, "streams must be a multiple of 4"),
    ({"streams": 64}, "streams must be between 4 and 32, not 64"),
    ({"floorplan": ("mem", "gpu")}, "unknown slice kind 'gpu'"),
    ({"floorplan": ("vxm",)}, "floorplan needs at least one mem slice"),
    ({"floorplan": ()}, "floorplan must name at least one slice"),
    ({"acc_depth": 0}, "acc_depth must be between 1 and 65536, not 0"),
    ({"mem_depth": 1 << 17}, "mem_depth must be between 16 and 65536"),
    ({"mem_ports": 3}, "mem_ports must be between 1 and 2, not 3"),
    ({"vxm_alus": 0}, "vxm_alus must be between 1 and 16, not 0"),
    ({"clock_mhz": -1}, "clock_mhz must be a positive number"),
])
def test_bad_geometry_is_refused_with_a_clear_message(change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        CoreConfig(**{**BASE, **change})


def test_toml_round_trip(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('lanes = 8\nstreams = 8\nfloorplan = "mem mem vxm mem"\nmem_depth = 128\n'
                    'vxm_alus = 3\n')
    config = load_config(str(path))
    assert config.name == "mine" and config.floorplan == ("mem", "mem", "vxm", "mem")
    assert len(config.queues) == 3 * 2 + 3


@pytest.mark.parametrize("text, message", [
    ("lanes = 8\n", "missing key 'streams'"),
    ("lanes = 8\nstreams = 8\nfloorplan = 'mem'\nmem_depth = 64\nvxm_alus = 1\nspeed = 3\n",
     "unknown key 'speed'"),
    ("lanes = [\n", "not a valid TOML file"),
    ("lanes = 8\nstreams = 8\nfloorplan = 3\nmem_depth = 64\nvxm_alus = 1\n",
     "floorplan must be a list"),
])
def test_bad_toml_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(str(path))


def test_unknown_preset_names_the_presets_and_board_cores():
    with pytest.raises(ConfigError, match="use a preset or board core \\(tiny, small16, tsp, "
                                          "icebreaker-core, ulx3s-core\\)"):
        load_config("huge")
    with pytest.raises(ConfigError, match="no such config file"):
        load_config("missing.toml")


def test_board_cores_load_by_name():
    """The cores `conveyor build` makes by default are named configs like the presets."""
    from conveyor.hw.machine.config import CONSTRAINTS_DIR, board_cores
    assert set(board_cores()) == {"icebreaker-core", "ulx3s-core"}
    core = load_config("ulx3s-core")
    assert core == load_config(str(CONSTRAINTS_DIR / "ulx3s-core.toml"))
    assert (core.lanes, core.mem_ports) == (8, 1)


@pytest.mark.parametrize("change, message", [
    ({"lanes": 1024, "mem_depth": 1 << 16}, ("mem_depth 65536 is more than the host port "
                                            "addresses at 1024 lanes \\(16384\\)")),
    ({"queue_depth": 1 << 22}, "queue_depth must be between 16 and 2097152"),
    ({"floorplan": ("mem",) * 129}, "258 queues are more than the host port addresses \\(256\\)"),
])
def test_a_config_the_host_port_cannot_address_is_refused(change, message):
    """Limits derived from the host address map, not written as numbers."""
    fields = {**PRESETS["tiny"].to_dict(), **change}
    with pytest.raises(ConfigError, match=message):
        CoreConfig.from_dict(fields)
