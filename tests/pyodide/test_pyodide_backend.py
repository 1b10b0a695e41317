"""PyodideBackend (libsodium.js in real Pyodide) against NativeBackend (PyNaCl): same bytes."""

from __future__ import annotations

from typing import Any

import pytest
from argon2.low_level import Type, hash_secret_raw

from tests.pyodide import backend_checks
from tests.pyodide.pyodide_harness import PyodideError, PyodideSession
from vault_core.backend.native import NativeBackend


@pytest.fixture(scope="module")
def native_results() -> dict[str, str]:
    return backend_checks.run_checks(NativeBackend())


@pytest.fixture(scope="module")
def pyodide_results(pyodide: PyodideSession) -> dict[str, str]:
    results: dict[str, str] = pyodide.call("backend_checks", "run_checks")
    return results


def test_runtimes_and_backends(
    native_results: dict[str, str], pyodide_results: dict[str, str], pyodide: PyodideSession
) -> None:
    assert native_results["backend"] == "pynacl"
    assert pyodide_results["backend"] == "libsodium.js"
    assert pyodide.request({"op": "ping"})["platform"] == "emscripten"


def test_identical_bytes_across_runtimes(
    native_results: dict[str, str], pyodide_results: dict[str, str]
) -> None:
    native = {k: v for k, v in native_results.items() if k != "backend"}
    inside = {k: v for k, v in pyodide_results.items() if k != "backend"}
    assert len(native) >= 26  # every check in backend_checks reported
    assert native.keys() == inside.keys()
    differing = sorted(k for k in native if native[k] != inside[k])
    assert not differing, f"outputs differ between PyNaCl and libsodium.js: {differing}"


def test_argon2id_matches_argon2_cffi(native_results: dict[str, str]) -> None:
    # Independent implementation (the reference C code via argon2-cffi), parallelism 1.
    for name, out_len, pw, salt, ops, mem in backend_checks.ARGON2_CASES:
        expected = hash_secret_raw(
            pw,
            salt,
            time_cost=ops,
            memory_cost=mem // 1024,
            parallelism=1,
            hash_len=out_len,
            type=Type.ID,
        )
        assert native_results[f"argon2id/{name}"] == expected.hex(), name


def test_argon2id_libsodium_path_agrees_with_argon2_module(
    pyodide: PyodideSession, pyodide_results: dict[str, str]
) -> None:
    info = pyodide.exec(
        "import backend_checks\n"
        "from vault_core.backend import get_backend\n"
        "from vault_core.backend.pyodide import PyodideBackend\n"
        "b = PyodideBackend(use_argon2_module=False)\n"
        "result = {'default': repr(get_backend()),\n"
        "          'fallback': backend_checks.run_checks(b), 'fallback_repr': repr(b)}\n"
    )
    assert info["default"] == "PyodideBackend(argon2=module)"
    assert info["fallback_repr"] == "PyodideBackend(argon2=libsodium.js)"
    assert info["fallback"] == pyodide_results


def _pyodide_error(pyodide: PyodideSession, code: str) -> PyodideError:
    with pytest.raises(PyodideError) as caught:
        pyodide.exec(code)
    return caught.value


def test_unbound_libsodium_fails_with_instructions(pyodide: PyodideSession) -> None:
    error = _pyodide_error(
        pyodide,
        (
            "from vault_core.backend import pyodide as p\n"
            "saved = p.SODIUM_MODULE\n"
            "p.SODIUM_MODULE = 'zkvault_sodium_not_registered'\n"
            "try:\n"
            "    p.PyodideBackend().blake2b(32, b'x')\n"
            "finally:\n"
            "    p.SODIUM_MODULE = saved\n"
        ),
    )
    assert error.error == "vault_core.backend.pyodide.PyodideBackendError"
    assert "registerJsModule" in error.message


@pytest.mark.parametrize("use_module", [True, False])
def test_js_failures_become_python_errors(pyodide: PyodideSession, use_module: bool) -> None:
    # 4 GiB of Argon2 memory cannot be allocated in 32-bit wasm: the failure must surface as
    # PyodideBackendError, not as a JsException or a crash.
    error = _pyodide_error(
        pyodide,
        (
            "from vault_core.backend.pyodide import PyodideBackend\n"
            f"PyodideBackend(use_argon2_module={use_module}).argon2id("
            "32, b'SECRET-CANARY', bytes(16), 1, 0xFFFFFC00)\n"
        ),
    )
    assert error.error == "vault_core.backend.pyodide.PyodideBackendError", error
    assert "CANARY" not in error.message


@pytest.mark.parametrize(
    "call",
    [
        "aead_encrypt(bytes(31), bytes(24), b'', b'')",
        "aead_decrypt(bytes(32), bytes(23), bytes(16), b'')",
        "box_seed_keypair(bytes(31))",
        "sign_detached(b'm', bytes(32))",
        "argon2id(32, b'pw', bytes(15), 1, 8192 * 1024)",
        "argon2id(15, b'pw', bytes(16), 1, 8192 * 1024)",
        "argon2id(32, b'pw', bytes(16), 0, 8192 * 1024)",
        "argon2id(32, b'pw', bytes(16), 1, 8191)",
        "blake2b(65, b'x')",
        "blake2b(32, b'x', bytes(65))",
    ],
)
def test_bad_arguments_raise_value_error(pyodide: PyodideSession, call: str) -> None:
    error = _pyodide_error(
        pyodide, f"from vault_core.backend import get_backend\nget_backend().{call}\n"
    )
    assert error.error == "builtins.ValueError", error


def test_secrets_are_wiped_from_wasm_heaps(pyodide: PyodideSession) -> None:
    # After each call, neither library's heap may still hold the key, plaintext or passphrase
    # we passed in (the wrappers we bypass would leave them in freed blocks).
    found: dict[str, Any] = pyodide.exec(
        "import zkvault_sodium, zkvault_argon2\n"
        "from js import Uint8Array\n"
        "from vault_core.backend import get_backend\n"
        "from vault_core.backend.pyodide import PyodideBackend\n"
        "b = get_backend()\n"
        "key = bytes(range(1, 33)); nonce = bytes(24)\n"
        "plain = b'PLAINTEXT-CANARY-' * 8\n"
        "pw = b'PASSPHRASE-CANARY-7c1e'\n"
        "ct = b.aead_encrypt(key, nonce, plain, b'ad')\n"
        "assert b.aead_decrypt(key, nonce, ct, b'ad') == plain\n"
        "_, box_sk = b.box_seed_keypair(b'SEED-CANARY-' + bytes(20))\n"
        "b.argon2id(32, pw, bytes(16), 1, 8192 * 1024)\n"
        "PyodideBackend(use_argon2_module=False).argon2id(32, pw, bytes(16), 1, 8192 * 1024)\n"
        "sodium_heap = zkvault_sodium.libsodium.HEAPU8.to_bytes()\n"
        "argon2_heap = Uint8Array.new(zkvault_argon2.memory.buffer).to_bytes()\n"
        "canaries = {'key': key, 'plain': plain[:32], 'pw': pw, 'box_sk': bytes(box_sk),\n"
        "            'seed': b'SEED-CANARY-'}\n"
        "heaps = {'sodium': sodium_heap, 'argon2': argon2_heap}\n"
        "result = {'sizes': [len(sodium_heap), len(argon2_heap)],\n"
        "          'hits': sorted(f'{heap}:{name}' for name, c in canaries.items()\n"
        "                         for heap, mem in heaps.items() if c in mem)}\n"
    )
    assert min(found["sizes"]) > 1 << 20  # the heaps were really read
    assert found["hits"] == []


def test_argon2_module_bound_late_is_picked_up(pyodide: PyodideSession) -> None:
    # Until zkvault_argon2 is importable the backend falls back to libsodium.js, and it
    # switches as soon as the module appears (here: the name is pointed back at it).
    reprs = pyodide.exec(
        "from vault_core.backend import pyodide as p\n"
        "saved = p.ARGON2_MODULE\n"
        "p.ARGON2_MODULE = 'zkvault_argon2_not_yet'\n"
        "b = p.PyodideBackend()\n"
        "try:\n"
        "    k1 = b.argon2id(32, b'pw', bytes(16), 1, 8192 * 1024)\n"
        "    before = repr(b)\n"
        "finally:\n"
        "    p.ARGON2_MODULE = saved\n"
        "k2 = b.argon2id(32, b'pw', bytes(16), 1, 8192 * 1024)\n"
        "result = [before, repr(b), k1 == k2]\n"
    )
    assert reprs == ["PyodideBackend(argon2=libsodium.js)", "PyodideBackend(argon2=module)", True]
