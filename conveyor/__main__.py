"""``python -m conveyor``: the ``conveyor`` command."""

import sys

from conveyor.sw.apps.cli import main

sys.exit(main())
