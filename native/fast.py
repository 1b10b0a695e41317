"""``python -S .../native/fast.py ARGS``: zkvault without ``site`` for its hot paths.

``get``, ``git-credential`` and ``run`` need the standard library and this package only,
yet ``site`` costs them most of a start-up (site-packages, ``.pth`` files, an editable
install's finder: docs/performance.md, "Start-up without site"). The helper ``zkvault git
setup`` writes runs this file under ``-S``; any other command loads ``site`` itself
before it needs a third-party module (native.cli.main), so every command still works.
"""

import sys

# Python put this file's directory (native/) first on the path: the package's parent
# belongs there instead, so that no module of native/ can stand in for a standard one.
# __file__ is absolute; when it is also normal, string work finds the parent and keeps
# `os` off the hot paths (native.paths); else os.path.abspath normalises it.
_here = __file__
if _here.startswith("/") and not any(part in _here for part in ("//", "/./", "/../")):
    sys.path[0] = _here.rpartition("/")[0].rpartition("/")[0] or "/"
else:
    import os

    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from native.cli import main  # noqa: E402

sys.exit(main())
