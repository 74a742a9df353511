"""Shared test settings: hypothesis without wall-clock deadlines (CI machines are slow and
shared), derandomised under CI so a red run can be reproduced exactly."""

import os
import re
from pathlib import Path

from hypothesis import HealthCheck, settings

settings.register_profile(
    "conveyor", deadline=None, derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("conveyor")


# --- examples and the configs they run on -----------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
_CONFIGS_LINE = re.compile(r"^; configs: (.+)$", re.MULTILINE)


def example_configs(path: Path) -> list[str]:
    """The configs an example is written for: its '; configs: a b' line, else tiny and small16."""
    found = _CONFIGS_LINE.search(path.read_text())
    return found.group(1).split() if found else ["tiny", "small16"]


def pytest_generate_tests(metafunc):
    """A test that takes ``example`` and ``example_config`` runs once per example and config."""
    if {"example", "example_config"} <= set(metafunc.fixturenames):
        cases = [(p, c) for p in sorted(EXAMPLES.glob("*.s")) for c in example_configs(p)]
        metafunc.parametrize("example, example_config", cases,
                             ids=[f"{p.stem}-{c}" for p, c in cases])
