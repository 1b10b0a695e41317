"""``python -S .../native/fast.py ARGS``: zkvault without ``site`` for its hot paths.

``get``, ``git-credential`` and ``run`` need the standard library and this package only,
yet ``site`` costs them most of a start-up (site-packages, ``.pth`` files, an editable
install's finder: docs/performance.md, "Start-up without site"). The helper ``zkvault git
setup`` writes runs this file under ``-S``; any other command loads ``site`` itself
before it needs a third-party module (native.cli.main), so every command still works.
"""

import os
import sys

# Python put this file's directory (native/) first on the path: the package's parent
# belongs there instead, so that no module of native/ can stand in for a standard one.
sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from native.cli import main  # noqa: E402

sys.exit(main())
