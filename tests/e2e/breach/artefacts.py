"""Everything a thief could take, as named byte strings.

Database and server: an SQL dump of every table, the database files themselves (SQLite's
file with its WAL; PostgreSQL's whole data directory and its log), the server's log at
debug level. Browsers: the HAR of all traffic, localStorage, sessionStorage, IndexedDB,
cookies, and the profile directory on disk. Every client: the proxy's capture of every
byte exchanged with the server (the proxy is the server's public URL, which DPoP proofs
name, so browsers, laptops and runners all pass through it); the laptop's disk without
its machine key; each runner's disk without its credential.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.e2e.breach.scenario import Person
from tests.support.pg import PrivatePostgres, _bin

# Long zero runs (preallocated WAL segments, empty pages) hide nothing; dropping them keeps
# the search of a whole PostgreSQL cluster fast.
_ZEROS = re.compile(rb"\x00{64,}")

BROWSER_STORAGE = """async () => {
  const hex = (buf) => [...new Uint8Array(buf)].map(b => b.toString(16).padStart(2, '0'))
    .join('');
  const plain = (v) => v instanceof ArrayBuffer ? hex(v)
    : ArrayBuffer.isView(v) ? hex(v.buffer) : v;
  const idb = {};
  for (const info of await indexedDB.databases()) {
    const db = await new Promise((ok, no) => {
      const r = indexedDB.open(info.name); r.onsuccess = () => ok(r.result); r.onerror = no;
    });
    for (const store of db.objectStoreNames) {
      const rows = await new Promise((ok, no) => {
        const r = db.transaction(store).objectStore(store).getAll();
        r.onsuccess = () => ok(r.result); r.onerror = no;
      });
      idb[`${info.name}/${store}`] = JSON.stringify(rows, (k, v) => plain(v));
    }
    db.close();
  }
  return {local: JSON.stringify({...localStorage}), session: JSON.stringify({...sessionStorage}),
          idb: JSON.stringify(idb)};
}"""


def files(root: Path, *, exclude: tuple[Path, ...] = ()) -> dict[str, bytes]:
    """Every regular file under ``root`` except ``exclude``, by relative path."""
    found = {}
    for path in sorted(root.rglob("*")):
        if any(path == e or e in path.parents for e in exclude):
            continue
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(root))] = _ZEROS.sub(b"\x00", path.read_bytes())
    return found


def tree(root: Path, *, exclude: tuple[Path, ...] = ()) -> bytes:
    """One artefact of a directory: each file's name, then its contents."""
    return b"".join(
        name.encode() + b"\n" + data + b"\n" for name, data in files(root, exclude=exclude).items()
    )


def chromium_decrypted(profile: Path) -> bytes:
    """What Chromium encrypts on disk (saved passwords, cookies), decrypted as a thief would:
    on Linux without a keyring the key is the published one (os_crypt "v10": AES-128-CBC,
    PBKDF2-SHA1 of "peanuts", salt "saltysalt", one iteration)."""
    key = hashlib.pbkdf2_hmac("sha1", b"peanuts", b"saltysalt", 1, 16)
    out = bytearray()
    for name, query in (
        ("Login Data", "SELECT password_value FROM logins"),
        ("Cookies", "SELECT encrypted_value FROM cookies"),
    ):
        path = profile / "Default" / name
        if not path.exists():
            continue
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            values = [bytes(row[0]) for row in db.execute(query)]
        for value in values:
            assert not value.startswith(b"v11"), "a keyring key: this search cannot open it"
            if value.startswith(b"v10"):
                decrypt = Cipher(algorithms.AES(key), modes.CBC(b" " * 16)).decryptor()
                padded = decrypt.update(value[3:]) + decrypt.finalize()
                out += padded[: -padded[-1]] + b"\n"
    return bytes(out)


def sqlite_artefacts(database: Path) -> dict[str, bytes]:
    with sqlite3.connect(database) as db:
        dump = "\n".join(db.iterdump()).encode()
    files = b"".join(
        _ZEROS.sub(b"\x00", p.read_bytes())
        for p in sorted(database.parent.glob(database.name + "*"))
    )
    return {"SQLite: SQL dump of every table": dump, "SQLite: database files + WAL": files}


def postgres_artefacts(pg: PrivatePostgres) -> dict[str, bytes]:
    dump = subprocess.run(
        [_bin("pg_dump"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", "zkvault"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(
        [
            _bin("psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(pg.port),
            "-U",
            "postgres",
            "-c",
            "CHECKPOINT",
            "zkvault",
        ],
        check=True,
        capture_output=True,
    )
    return {
        "PostgreSQL: pg_dump": dump,
        "PostgreSQL: data directory (incl. WAL)": tree(pg.data),
        "PostgreSQL: its own log": (pg.root / "pg.log").read_bytes(),
    }


def browser_artefacts(person: Person) -> dict[str, bytes]:
    """Storage as the page sees it, then (after closing, which writes the HAR) the disk."""
    stored = person.app.page.evaluate(BROWSER_STORAGE)
    cookies = json.dumps(person.app.context.cookies()).encode()
    person.app.context.close()
    person.browser_open = False
    who = person.label
    return {
        f"{who}'s browser: localStorage": stored["local"].encode(),
        f"{who}'s browser: sessionStorage": stored["session"].encode(),
        f"{who}'s browser: IndexedDB": stored["idb"].encode(),
        f"{who}'s browser: cookies": cookies,
        f"{who}'s browser: all traffic (HAR)": person.har.read_bytes(),
        f"{who}'s browser: profile on disk": tree(person.profile),
        f"{who}'s browser: saved passwords, cookies (decrypted)": chromium_decrypted(
            person.profile
        ),
    }


def machine_artefacts(person: Person) -> dict[str, bytes]:
    laptop = person.laptop
    found = {
        f"{person.label}'s laptop: disk without machine key": tree(
            laptop.root, exclude=(laptop.key_dir,)
        )
    }
    for runner in person.runners.values():
        found[f"{person.label}'s runner {runner.name}: disk without credential"] = tree(
            runner.env.root, exclude=(runner.env.root / "ci-secret",)
        )
    return found
