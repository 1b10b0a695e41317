"""vault_core.token_formats inside Pyodide (the web worker's runtime) gives exactly the
answers it gives natively: same table, same guesses, same spans."""

from __future__ import annotations

from tests.pyodide.pyodide_harness import ROOT, PyodideSession
from tests.unit import token_format_checks


def test_token_formats_agree_across_runtimes(pyodide: PyodideSession) -> None:
    pyodide.put_support_file(ROOT / "tests" / "unit" / "token_format_checks.py")
    inside = pyodide.call("token_format_checks", "run", 7)
    native = token_format_checks.run(7)
    assert len(inside["found"]) >= len(native["formats"])
    assert inside == native
    assert pyodide.exec("import sys\nresult = sys.platform") == "emscripten"
