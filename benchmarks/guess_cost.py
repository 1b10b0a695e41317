"""What one offline passphrase guess costs an attacker holding a stolen vault.

    .venv/bin/python benchmarks/guess_cost.py

Measures Argon2id at the parameters new vaults get (and at the floor), one core,
libsodium through PyNaCl (what a CPU attacker would run), then prints the
expected work to find passphrases of several strengths: half the key space,
in core-years on this machine's cores, and the memory each parallel guess needs.
GPUs help Argon2id little at 64 MiB per guess (memory bandwidth bound); scale
the core-years by the number of cores an attacker can rent.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

from vault_core import KdfParams
from vault_core.kdf import derive_kek

YEAR = 365.25 * 86400
STRENGTHS = [  # (description, bits of entropy)
    ("4 random common words (diceware, 7,776)", 51.7),
    ("5 random diceware words", 64.6),
    ("6 random diceware words", 77.5),
    ("10 random characters from 94", 65.5),
    ("the web app's minimum: a century at 10^5 guesses/s", 48.2),
]


def measure(params: KdfParams, runs: int = 5) -> float:
    salt = os.urandom(16)
    times = []
    for i in range(runs):
        started = time.perf_counter()
        derive_kek(f"guess {i}", salt, params)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    with open("/proc/cpuinfo") as info:
        cpu = next(
            (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
            platform.processor(),
        )
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}")
    for label, params in (("default", KdfParams.default()), ("floor", KdfParams.floor())):
        seconds = measure(params)
        print(
            f"\n{label}: Argon2id t={params.ops}, m={params.mem_kib // 1024} MiB, p=1: "
            f"{seconds * 1000:.0f} ms and {params.mem_kib // 1024} MiB per guess per core"
        )
        print(f"  {'passphrase':<56} {'bits':>5} {'core-years (half the space)':>28}")
        for description, bits in STRENGTHS:
            years = 2 ** (bits - 1) * seconds / YEAR
            print(f"  {description:<56} {bits:>5.1f} {years:>28.3g}")


if __name__ == "__main__":
    main()
