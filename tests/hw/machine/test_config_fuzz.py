"""Hostile TOML configs: any text or any table gives a config or one ConfigError, nothing else."""

import string

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.errors import ConfigError
from conveyor.hw.machine.config import CoreConfig, load_config

KEYS = ["name", "lanes", "streams", "floorplan", "mem_depth", "vxm_alus", "mem_ports",
        "queue_depth", "clock_mhz", "extra"]
SCALARS = st.one_of(st.integers(-(1 << 40), 1 << 40), st.booleans(), st.text(max_size=8),
                    st.floats(allow_nan=False), st.sampled_from([4, 8, 16, 64, 256, 1024]))
VALUES = st.one_of(SCALARS, st.lists(st.sampled_from(["mem", "vxm", "mxm", "xyz", 3]),
                                     max_size=6))


def _load(tmp_path, text: str):
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    try:
        return load_config(str(path))
    except ConfigError as e:
        assert "\n" not in str(e)
        return e


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=len(KEYS)))
def test_any_table_is_a_config_or_one_config_error(tmp_path, table):
    result = _load(tmp_path, tomli_w.dumps(table))
    assert isinstance(result, (CoreConfig, ConfigError))
    if isinstance(result, CoreConfig):
        assert result.lanes % 4 == 0 and result.streams % 4 == 0 and "mem" in result.floorplan


@settings(max_examples=200)
@given(st.text(alphabet=string.printable + "é\x00", max_size=120))
def test_any_text_is_a_config_or_one_config_error(tmp_path, text):
    assert isinstance(_load(tmp_path, text), (CoreConfig, ConfigError))
