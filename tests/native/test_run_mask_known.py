"""``zkvault run --mask-known``: tokens of a published format the command prints are masked
too, even split across writes; without the flag they are not (the vault's values always are)."""

from __future__ import annotations

import sys

from tests.native.support import Env, VaultFile
from tests.unit.token_format_checks import samples

CHILD = [sys.executable, "-c"]
# Written in pieces with pauses, so the pieces reach zkvault in separate reads.
SCRIPT = (
    "import os, sys, time\n"
    "for token in sys.argv[1:]:\n"
    "    for i in range(0, len(token), 7):\n"
    "        sys.stdout.write(token[i:i + 7]); sys.stdout.flush(); time.sleep(0.002)\n"
    "    sys.stdout.write(' next\\n'); sys.stdout.flush()\n"
    "    print('err', token, 'x', file=sys.stderr, flush=True)\n"
    "print('vault', os.environ['TOKEN'])\n"
)


def test_known_tokens_are_masked_when_asked(env: Env, unlocked: VaultFile) -> None:
    tokens = [token for _name, token in samples(11)][::4]
    done = env.zk("run", "--mask-known", "--env", "TOKEN=github", "--", *CHILD, SCRIPT, *tokens)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "**** next\n" * len(tokens) + "vault ****\n"
    assert done.stderr == "err **** x\n" * len(tokens)
    plain = env.zk("run", "--env", "TOKEN=github", "--", *CHILD, SCRIPT, *tokens)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == "".join(f"{t} next\n" for t in tokens) + "vault ****\n"


def test_mask_known_refuses_no_mask(env: Env, unlocked: VaultFile) -> None:
    done = env.zk("run", "--mask-known", "--no-mask", "--", *CHILD, "pass")
    assert done.returncode == 2
    assert done.stderr == "zkvault: --mask-known needs masking; drop --no-mask\n"
