"""The examples and the configs each is written for (its ``; configs: a b`` line), shared by
the tests that run every example."""

import re
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
_CONFIGS_LINE = re.compile(r"^; configs: (.+)$", re.MULTILINE)


def example_configs(path: Path) -> list[str]:
    """The configs an example is written for: its '; configs: a b' line, else tiny and small16."""
    found = _CONFIGS_LINE.search(path.read_text())
    return found.group(1).split() if found else ["tiny", "small16"]


