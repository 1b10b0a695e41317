"""The web worker's Python: the vault session (the only place in the browser that holds
the passphrase and plaintext) and the passphrase-strength estimate.

It runs inside Pyodide, installed from the same wheel as vault_core (tools/build_wheel.py),
and natively in the unit tests. It reaches vault_core through its public API only.
"""
