"""``python -m conveyor.sw.apps.cli``: the ``conveyor`` command."""

import sys

from . import main

sys.exit(main())
