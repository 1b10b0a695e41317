"""``python -m native`` is the same as the ``zkvault`` command."""

import sys

from native.cli import main

sys.exit(main())
