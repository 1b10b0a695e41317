"""What a same-user process can read of another through /proc: its environment, its open
descriptors (opened anew and read, as a pipe would be drained) and its memory.

    procprobe.py NEEDLES_FILE PID|parent   one JSON line for that process
    procprobe.py NEEDLES_FILE --wait       one JSON line per PID read from stdin

NEEDLES_FILE holds one string per line to look for. Each channel is reported as the
name of the error that refused it, "clean" (read, nothing found) or "LEAK: <which>".
Standard library only: it runs as a build step would, with any interpreter.
"""

from __future__ import annotations

import json
import os
import sys


def _found(data: bytes, needles: list[bytes]) -> str:
    hits = [n.decode() for n in needles if n in data]
    return f"LEAK: {len(hits)} of the needles" if hits else "clean"


def _environ(pid: int, needles: list[bytes]) -> str:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return _found(f.read(), needles)
    except OSError as exc:
        return type(exc).__name__


def _fds(pid: int, needles: list[bytes]) -> dict[str, str]:
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError as exc:
        return {"listing": type(exc).__name__}
    seen = {}
    for name in names:
        try:
            fd = os.open(f"/proc/{pid}/fd/{name}", os.O_RDONLY | os.O_NONBLOCK)
        except OSError as exc:
            seen[name] = type(exc).__name__
            continue
        try:
            seen[name] = _found(os.read(fd, 1 << 16), needles)
        except OSError as exc:
            seen[name] = f"opened, {type(exc).__name__}"
        finally:
            os.close(fd)
    return seen


def _memory(pid: int, needles: list[bytes]) -> str:
    try:
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", buffering=0)  # noqa: SIM115 - closed below
    except OSError as exc:
        return type(exc).__name__
    data = bytearray()
    with mem:
        for line in maps:
            span, perms = line.split()[:2]
            if not perms.startswith("r") or line.endswith("[vvar]"):
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            try:
                mem.seek(start)
                data += mem.read(end - start)
            except (OSError, OverflowError, ValueError):
                continue
    return _found(bytes(data), needles)


def look(pid: int, needles: list[bytes]) -> dict[str, object]:
    return {
        "pid": pid,
        "environ": _environ(pid, needles),
        "fd": _fds(pid, needles),
        "mem": _memory(pid, needles),
    }


def main() -> None:
    with open(sys.argv[1], "rb") as f:
        needles = [line for line in f.read().splitlines() if line]
    if sys.argv[2] == "--wait":
        print("ready", flush=True)
        for line in sys.stdin:
            print(json.dumps(look(int(line), needles)), flush=True)
        return
    pid = os.getppid() if sys.argv[2] == "parent" else int(sys.argv[2])
    print(json.dumps(look(pid, needles)), flush=True)


if __name__ == "__main__":
    main()
