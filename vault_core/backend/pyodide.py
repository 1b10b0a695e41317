"""The Pyodide backend: libsodium.js (and a faster Argon2id) through Pyodide's JS FFI.

How the host binds the crypto (after ``loadPyodide()`` returns, so no JS object
ends up in a memory snapshot taken at build time)::

    import sodium from "libsodium-wrappers-sumo";
    await sodium.ready;
    pyodide.registerJsModule("zkvault_sodium", sodium);

    // Optional, faster Argon2id (identical bytes): @phi-ag/argon2's argon2.wasm,
    // instantiated with no imports; register its raw exports.
    const { instance } = await WebAssembly.instantiate(argon2WasmBytes);
    instance.exports._initialize();
    pyodide.registerJsModule("zkvault_argon2", instance.exports);

Both modules are imported lazily, on the first primitive call, so vault_core
imports fine before they are bound. Without ``zkvault_argon2`` Argon2id runs in
libsodium.js's ``crypto_pwhash`` (same bytes, slower).

We call the wasm exports of both libraries directly (``sodium.libsodium``, the
Emscripten module under libsodium-wrappers) rather than the JS wrappers: the
wrappers copy every input into a temporary JS ``Uint8Array`` and into the wasm
heap, and free heap blocks without wiping them. Here each input is copied once,
from Python's memory straight into the library's heap, each output once from
the heap straight into a Python ``bytearray``, and every heap block we allocate
is zeroed before it is freed, on success and on failure alike.

Nothing from JS escapes: failed authentication raises ``PrimitiveAuthError``,
bad argument sizes ``ValueError``, anything else ``PyodideBackendError``; all
with fixed messages.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from .base import (
    AEAD_KEY_BYTES,
    AEAD_NONCE_BYTES,
    AEAD_TAG_BYTES,
    BOX_MAC_BYTES,
    BOX_NONCE_BYTES,
    BOX_PUBLIC_KEY_BYTES,
    BOX_SECRET_KEY_BYTES,
    BOX_SEED_BYTES,
    SIGN_PUBLIC_KEY_BYTES,
    SIGN_SECRET_KEY_BYTES,
    SIGN_SEED_BYTES,
    SIGNATURE_BYTES,
    PrimitiveAuthError,
)

SODIUM_MODULE = "zkvault_sodium"
ARGON2_MODULE = "zkvault_argon2"

# libsodium's crypto_pwhash_argon2id limits (wasm32: size_t is 32 bits).
_PWHASH_SALT_BYTES = 16
_PWHASH_BYTES_MIN = 16
_U32_MAX = 0xFFFFFFFF
_PWHASH_MEMLIMIT_MIN = 8192
_PWHASH_ALG_ARGON2ID13 = 2
_ARGON2_VERSION_13 = 0x13
_ARGON2_TYPE_ID = 2
_BLAKE2B_BYTES_MIN = 16
_BLAKE2B_BYTES_MAX = 64
_BLAKE2B_KEY_BYTES_MAX = 64


class PyodideBackendError(RuntimeError):
    """A libsodium.js call failed for a reason other than authentication."""


def _js_exception() -> type[BaseException]:
    from pyodide.ffi import JsException

    return JsException  # type: ignore[no-any-return]


class _Heap:
    """One wasm instance's linear memory, written and read from Python without JS copies."""

    def __init__(
        self, malloc: Callable[[int], Any], free: Callable[[int], Any], view: Callable[[], Any]
    ) -> None:
        self._malloc = malloc
        self._free = free
        # The view must be fetched anew after every call that can grow memory:
        # growth detaches the old ArrayBuffer.
        self._view = view

    @contextmanager
    def frame(self) -> Iterator[_Frame]:
        frame = _Frame(self)
        try:
            yield frame
        finally:
            frame.release()


class _Frame:
    """Allocations for one call; all zeroed and freed together, whatever happens."""

    def __init__(self, heap: _Heap) -> None:
        self._heap = heap
        self._blocks: list[tuple[int, int]] = []

    def alloc(self, n: int) -> int:
        ptr = int(self._heap._malloc(max(n, 1)))
        if ptr == 0:
            raise PyodideBackendError("wasm allocation failed")
        self._blocks.append((ptr, n))
        return ptr

    def put(self, data: bytes | bytearray | memoryview) -> int:
        ptr = self.alloc(len(data))
        if len(data):
            self._heap._view().subarray(ptr, ptr + len(data)).assign(data)
        return ptr

    def get(self, ptr: int, n: int) -> bytearray:
        out = bytearray(n)
        if n:
            self._heap._view().subarray(ptr, ptr + n).assign_to(out)
        return out

    def release(self) -> None:
        if not self._blocks:
            return
        view = self._heap._view()
        for ptr, n in reversed(self._blocks):
            if n:
                view.fill(0, ptr, ptr + n)
            self._heap._free(ptr)
        self._blocks.clear()


def _to_bytes(buf: bytearray) -> bytes:
    """The immutable copy the protocol returns; the intermediate is zeroed (it may be a key)."""
    try:
        return bytes(buf)
    finally:
        buf[:] = bytes(len(buf))


def _check_len(value: bytes | bytearray, n: int, what: str) -> None:
    if len(value) != n:
        raise ValueError(f"{what} must be {n} bytes")


class PyodideBackend:
    name = "libsodium.js"

    def __init__(self, *, use_argon2_module: bool = True) -> None:
        # use_argon2_module=False forces libsodium.js's crypto_pwhash (tests compare both).
        self._use_argon2_module = use_argon2_module
        self._sodium: Any = None
        self._heap: _Heap | None = None
        self._argon2: Any = None
        self._argon2_heap: _Heap | None = None

    def __repr__(self) -> str:
        return f"PyodideBackend(argon2={'module' if self._argon2_heap else 'libsodium.js'})"

    # -- binding -----------------------------------------------------------------------------

    def _lib(self) -> tuple[Any, _Heap]:
        if self._heap is None:
            try:
                wrappers = importlib.import_module(SODIUM_MODULE)
            except ImportError:
                raise PyodideBackendError(
                    "libsodium.js is not bound: after loadPyodide(), the host must "
                    f'`await sodium.ready` and call pyodide.registerJsModule("{SODIUM_MODULE}", '
                    "sodium) with libsodium-wrappers-sumo"
                ) from None
            lib = wrappers.libsodium
            if lib is None or not hasattr(lib, "_crypto_pwhash"):
                raise PyodideBackendError(
                    f"{SODIUM_MODULE} is not a ready libsodium-wrappers-sumo object"
                )
            self._sodium = lib
            self._heap = _Heap(lib._malloc, lib._free, lambda: lib.HEAPU8)
        return self._sodium, self._heap

    def _argon2_module(self) -> tuple[Any, _Heap] | None:
        # Probed on every call until found, so binding it after the first derivation still
        # takes effect; once found it is kept.
        if self._argon2_heap is None:
            try:
                exports = importlib.import_module(ARGON2_MODULE)
            except ImportError:
                return None
            from js import Uint8Array

            self._argon2 = exports
            self._argon2_heap = _Heap(
                exports.malloc, exports.free, lambda: Uint8Array.new(exports.memory.buffer)
            )
        return self._argon2, self._argon2_heap

    @contextmanager
    def _js_errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except _js_exception():
            raise PyodideBackendError(f"{what} failed in JS") from None

    # -- primitives --------------------------------------------------------------------------

    def random_bytes(self, n: int) -> bytes:
        if n < 0:
            raise ValueError("n must not be negative")
        lib, heap = self._lib()
        with self._js_errors("randombytes_buf"), heap.frame() as f:
            ptr = f.alloc(n)
            lib._randombytes_buf(ptr, n)
            return _to_bytes(f.get(ptr, n))

    def argon2id(
        self, out_len: int, passphrase: bytes, salt: bytes, opslimit: int, memlimit: int
    ) -> bytearray:
        # libsodium's own checks, applied up front so both implementations refuse the same input.
        if not _PWHASH_BYTES_MIN <= out_len <= _U32_MAX:
            raise ValueError("derived key length out of range")
        _check_len(salt, _PWHASH_SALT_BYTES, "salt")
        if len(passphrase) > _U32_MAX:
            raise ValueError("passphrase too long")
        if not 1 <= opslimit <= _U32_MAX:
            raise ValueError("opslimit out of range")
        if not _PWHASH_MEMLIMIT_MIN <= memlimit <= _U32_MAX:
            raise ValueError("memlimit out of range")
        module = self._argon2_module() if self._use_argon2_module else None
        if module is not None:
            return self._argon2id_module(module, out_len, passphrase, salt, opslimit, memlimit)
        lib, heap = self._lib()
        with self._js_errors("crypto_pwhash"), heap.frame() as f:
            out = f.alloc(out_len)
            pw = f.put(passphrase)
            s = f.put(salt)
            # 64-bit C arguments arrive as (low, high) 32-bit halves in this build.
            rc = lib._crypto_pwhash(
                out,
                out_len,
                0,
                pw,
                len(passphrase),
                0,
                s,
                opslimit,
                0,
                memlimit,
                _PWHASH_ALG_ARGON2ID13,
            )
            if rc != 0:
                raise PyodideBackendError("crypto_pwhash failed (out of memory?)")
            return f.get(out, out_len)

    def _argon2id_module(
        self,
        module: tuple[Any, _Heap],
        out_len: int,
        passphrase: bytes,
        salt: bytes,
        opslimit: int,
        memlimit: int,
    ) -> bytearray:
        exports, heap = module
        with self._js_errors("argon2_hash"), heap.frame() as f:
            out = f.alloc(out_len)
            pw = f.put(passphrase)
            s = f.put(salt)
            # libsodium passes memlimit // 1024 KiB and parallelism 1 to the same reference code.
            rc = exports.argon2_hash(
                opslimit,
                memlimit // 1024,
                1,
                pw,
                len(passphrase),
                s,
                len(salt),
                out,
                out_len,
                0,
                0,
                _ARGON2_TYPE_ID,
                _ARGON2_VERSION_13,
            )
            if rc != 0:
                raise PyodideBackendError(f"argon2_hash failed (code {int(rc)})")
            return f.get(out, out_len)

    def blake2b(self, out_len: int, message: bytes, key: bytes = b"") -> bytes:
        if not _BLAKE2B_BYTES_MIN <= out_len <= _BLAKE2B_BYTES_MAX:
            raise ValueError("digest size out of range")
        if len(key) > _BLAKE2B_KEY_BYTES_MAX:
            raise ValueError("key too long")
        lib, heap = self._lib()
        with self._js_errors("crypto_generichash"), heap.frame() as f:
            out = f.alloc(out_len)
            m = f.put(message)
            k = f.put(key) if key else 0
            if lib._crypto_generichash(out, out_len, m, len(message), 0, k, len(key)) != 0:
                raise PyodideBackendError("crypto_generichash failed")
            return _to_bytes(f.get(out, out_len))

    def aead_encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, ad: bytes) -> bytes:
        _check_len(key, AEAD_KEY_BYTES, "key")
        _check_len(nonce, AEAD_NONCE_BYTES, "nonce")
        lib, heap = self._lib()
        with self._js_errors("aead encrypt"), heap.frame() as f:
            clen = len(plaintext) + AEAD_TAG_BYTES
            c = f.alloc(clen)
            m = f.put(plaintext)
            a = f.put(ad)
            n = f.put(nonce)
            k = f.put(key)
            rc = lib._crypto_aead_xchacha20poly1305_ietf_encrypt(
                c, 0, m, len(plaintext), 0, a, len(ad), 0, 0, n, k
            )
            if rc != 0:
                raise PyodideBackendError("aead encrypt failed")
            return bytes(f.get(c, clen))

    def aead_decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, ad: bytes) -> bytearray:
        _check_len(key, AEAD_KEY_BYTES, "key")
        _check_len(nonce, AEAD_NONCE_BYTES, "nonce")
        if len(ciphertext) < AEAD_TAG_BYTES:
            raise PrimitiveAuthError
        lib, heap = self._lib()
        with self._js_errors("aead decrypt"), heap.frame() as f:
            mlen = len(ciphertext) - AEAD_TAG_BYTES
            m = f.alloc(mlen)
            c = f.put(ciphertext)
            a = f.put(ad)
            n = f.put(nonce)
            k = f.put(key)
            rc = lib._crypto_aead_xchacha20poly1305_ietf_decrypt(
                m, 0, 0, c, len(ciphertext), 0, a, len(ad), 0, n, k
            )
            if rc != 0:
                raise PrimitiveAuthError
            return f.get(m, mlen)

    def box_seed_keypair(self, seed: bytes) -> tuple[bytes, bytearray]:
        _check_len(seed, BOX_SEED_BYTES, "seed")
        lib, heap = self._lib()
        with self._js_errors("crypto_box_seed_keypair"), heap.frame() as f:
            pk = f.alloc(BOX_PUBLIC_KEY_BYTES)
            sk = f.alloc(BOX_SECRET_KEY_BYTES)
            if lib._crypto_box_seed_keypair(pk, sk, f.put(seed)) != 0:
                raise PyodideBackendError("crypto_box_seed_keypair failed")
            return bytes(f.get(pk, BOX_PUBLIC_KEY_BYTES)), f.get(sk, BOX_SECRET_KEY_BYTES)

    def box_easy(self, message: bytes, nonce: bytes, public_key: bytes, secret_key: bytes) -> bytes:
        _check_len(nonce, BOX_NONCE_BYTES, "nonce")
        _check_len(public_key, BOX_PUBLIC_KEY_BYTES, "public key")
        _check_len(secret_key, BOX_SECRET_KEY_BYTES, "secret key")
        lib, heap = self._lib()
        with self._js_errors("crypto_box_easy"), heap.frame() as f:
            clen = len(message) + BOX_MAC_BYTES
            c = f.alloc(clen)
            m = f.put(message)
            n = f.put(nonce)
            pk = f.put(public_key)
            sk = f.put(secret_key)
            if lib._crypto_box_easy(c, m, len(message), 0, n, pk, sk) != 0:
                # Only a low-order (all-zero shared secret) public key makes this fail.
                raise ValueError("invalid public key")
            return bytes(f.get(c, clen))

    def box_open_easy(
        self, ciphertext: bytes, nonce: bytes, public_key: bytes, secret_key: bytes
    ) -> bytearray:
        _check_len(nonce, BOX_NONCE_BYTES, "nonce")
        _check_len(public_key, BOX_PUBLIC_KEY_BYTES, "public key")
        _check_len(secret_key, BOX_SECRET_KEY_BYTES, "secret key")
        if len(ciphertext) < BOX_MAC_BYTES:
            raise PrimitiveAuthError
        lib, heap = self._lib()
        with self._js_errors("crypto_box_open_easy"), heap.frame() as f:
            mlen = len(ciphertext) - BOX_MAC_BYTES
            m = f.alloc(mlen)
            c = f.put(ciphertext)
            n = f.put(nonce)
            pk = f.put(public_key)
            sk = f.put(secret_key)
            if lib._crypto_box_open_easy(m, c, len(ciphertext), 0, n, pk, sk) != 0:
                raise PrimitiveAuthError
            return f.get(m, mlen)

    def sign_seed_keypair(self, seed: bytes) -> tuple[bytes, bytearray]:
        _check_len(seed, SIGN_SEED_BYTES, "seed")
        lib, heap = self._lib()
        with self._js_errors("crypto_sign_seed_keypair"), heap.frame() as f:
            pk = f.alloc(SIGN_PUBLIC_KEY_BYTES)
            sk = f.alloc(SIGN_SECRET_KEY_BYTES)
            if lib._crypto_sign_seed_keypair(pk, sk, f.put(seed)) != 0:
                raise PyodideBackendError("crypto_sign_seed_keypair failed")
            return bytes(f.get(pk, SIGN_PUBLIC_KEY_BYTES)), f.get(sk, SIGN_SECRET_KEY_BYTES)

    def sign_detached(self, message: bytes, secret_key: bytes) -> bytes:
        _check_len(secret_key, SIGN_SECRET_KEY_BYTES, "secret key")
        lib, heap = self._lib()
        with self._js_errors("crypto_sign_detached"), heap.frame() as f:
            sig = f.alloc(SIGNATURE_BYTES)
            m = f.put(message)
            sk = f.put(secret_key)
            if lib._crypto_sign_detached(sig, 0, m, len(message), 0, sk) != 0:
                raise PyodideBackendError("crypto_sign_detached failed")
            return bytes(f.get(sig, SIGNATURE_BYTES))

    def sign_verify_detached(self, signature: bytes, message: bytes, public_key: bytes) -> None:
        if len(signature) != SIGNATURE_BYTES or len(public_key) != SIGN_PUBLIC_KEY_BYTES:
            raise PrimitiveAuthError
        lib, heap = self._lib()
        with self._js_errors("crypto_sign_verify_detached"), heap.frame() as f:
            s = f.put(signature)
            m = f.put(message)
            pk = f.put(public_key)
            if lib._crypto_sign_verify_detached(s, m, len(message), 0, pk) != 0:
                raise PrimitiveAuthError
