"""Vectors for ssh-key items (format.md §6.6, "ssh-key items"): a vault holding one key of
each accepted type opens, and each rule on the key, its hosts, user and scopes, and the
format-1 rule, is refused with invalid_item.

The RSA and ECDSA keys are fixed inputs made once with ssh-keygen for these vectors (they
protect nothing); the Ed25519 key is derived from a fixed seed with libsodium, as
vault_core.sshkeys writes it. The passphrase of ED25519_ENCRYPTED is "vector"."""

from __future__ import annotations

import base64
import json
from typing import Any

from tests.vectors.common import ITEMS, PASSPHRASE, build_vault, reopen, vault_vector
from tests.vectors.forge import forge_vault
from vault_core import Item, sshkeys
from vault_core.backend import get_backend
from vault_core.encoding import canonical_json

RSA_3072 = """\
-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAABlwAAAAdzc2gtcn
NhAAAAAwEAAQAAAYEAvLJjbnmJxohs5hoSwi8LMdmeY//VbVhuT12x6r6ZNdhUrrS/i0FS
o+URd+2PMHzbWxKQXHbLJzLnVlFhGimkDzGUL3SShY7IDzpj3uKDRIE8dD1obRJKPuO5/o
neM9bsw8huRW52Te7U0oC8rvlcwHOOJ9IEjyZef3UYNn9i+xS94aXMwxYBpxI6Re7q5KV7
SN5BU9cyO5JkcM+fs7eWD6/ufVMBmNuiBHB8XGIUtiBt1JF85XAFt1/h8Mk+wIxzlFeVtq
MqOCC82mCjRE0LS76KzRvIRnV9tmxQJZU1SsKc9xXyItEplTjmzEI65sPfFjmt0o8h13zV
stdgV+rjHsfeIDz7VUxGtgZaeA8Q6PnQqDS94n0c0oIcX7e8BynX5GvT6GaiePoF572Bya
iOHakKul6XWqFxxaJoC9tAhAg9OTkXRsbVAtdeZ35a5mZfY9V6eOP+q4AYLqSzfJZ7jP1U
uuGhoH3qQajJfIsCIj8K1K5x1c/baTBt9xDIWyZ1AAAFeIaGHLuGhhy7AAAAB3NzaC1yc2
EAAAGBALyyY255icaIbOYaEsIvCzHZnmP/1W1Ybk9dseq+mTXYVK60v4tBUqPlEXftjzB8
21sSkFx2yycy51ZRYRoppA8xlC90koWOyA86Y97ig0SBPHQ9aG0SSj7juf6J3jPW7MPIbk
Vudk3u1NKAvK75XMBzjifSBI8mXn91GDZ/YvsUveGlzMMWAacSOkXu6uSle0jeQVPXMjuS
ZHDPn7O3lg+v7n1TAZjbogRwfFxiFLYgbdSRfOVwBbdf4fDJPsCMc5RXlbajKjggvNpgo0
RNC0u+is0byEZ1fbZsUCWVNUrCnPcV8iLRKZU45sxCOubD3xY5rdKPIdd81bLXYFfq4x7H
3iA8+1VMRrYGWngPEOj50Kg0veJ9HNKCHF+3vAcp1+Rr0+hmonj6Bee9gcmojh2pCrpel1
qhccWiaAvbQIQIPTk5F0bG1QLXXmd+WuZmX2PVenjj/quAGC6ks3yWe4z9VLrhoaB96kGo
yXyLAiI/CtSucdXP22kwbfcQyFsmdQAAAAMBAAEAAAGAGWEK04yANdYag3ZFSJ3ILSu+TG
fX3k2TBJSu/col1CKk/RxtWL7v7QA9sbofVJ+uZxjflrgZicukZq0qWLj6ClsaOam9nT3/
dWDeltczXY7eQSoTNfxMRRoe5XfIjYNeM9Ts0+TP/5pcQHW1Kvl5+p5wI7XxDAnWkuD+YT
IP74IyKbvBhwmaLkzazpYcPKVvJ/VQpwSeCnodjTi3m5XZFoIMmwmDgPolV+CDMW+1pmtF
Kl5pBHjlI+0+98IxcPdSxpLgfS9mEq4+N9BB6Y1tSu0lcleZis/KnWmCCPM34hS4zHhoiL
EKBmZ6htHLFXKVX1kcE45w/xUGnEhOPhVvAxJQ85VULbZgbgqHmkJrNZnzBZRkdcUuQv9V
BlouktraJyhpYHBvqbAm9T6IKHVgBUSwVIHe/6lvpKOuuzJ5kXlWHnZ2mFgJErU5n3/oQr
Imd07YNJY10gmLlQAsF5ZawbfM6rLMy1wyFsm7uMifqSFqm+A92gZ6AZX7OlaTjg+PAAAA
wDkwHFZOm4OCR3r5C6/UhBuO/iVPXn9qpdAGYqf0RpcjooDoomQNEiywMvt0jRX5E70MTL
RtUJ8XfriZLaBbWVkzLkE5mg4Kzl2+YCn+A+AI7IQoYmF08PtqUEubLGWmaDQunUpzsruj
coy1Jl5A5fAw1oAxx4QroK5+3z5Jf0LRX4xCCyPnLN1yaQq27PLWAmYcXXWHWm1ZgCaPGi
tp4I3LO+vu1adh3szqP4WppPj9esVoKeTelleP6smzmrAU7wAAAMEA/InRunGRybj+fGk6
JqzF3+2xN9rUN6gcttgak7eDofLOUPMlX41+t25h0N0ocHxjzjGc+Fste29ZDoGOdQnpar
prDjMCxhUoJF0vpPjEoTks1GdFKT6Cun/GmkPidsVHj7EdKNV/Oh4XVEjrX5Qix0Vc7cF0
PgBF2AlnzPrH06Q2suTHCSQDzCRxaVe+RlC3fsP1Fc2mooaLW1SslxKjBgD/H5NysvJOOL
g8YofdYPnHrpo0yLeKi8UuCM11uj2jAAAAwQC/SIsSzpg9fNE6l7x5jU+A2/oj/72TXA4W
y5iMu4eYrN82YwOQaGaPEd2oBHaUudu8P3BIcypKtp0PPsJLGD3Wk0ALc9qztNBJK6dPKI
1sW04e1n0As207SzBbxfxbRnXfWZfHOagzdw+otxlXOtgG5Her/hya8JECoUDA9Gbbquq4
yg1jpkpQ7kBIH2MWig5CHQWOWW+gFvedi+k4tdzLZRpyLJSpPIMhh55La0O41NCue+4auJ
472lDWyZAYHQcAAAAAAQID
-----END OPENSSH PRIVATE KEY-----
"""

ECDSA_P256 = """\
-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAaAAAABNlY2RzYS
1zaGEyLW5pc3RwMjU2AAAACG5pc3RwMjU2AAAAQQTQfqhmI10LO3JYn8zYPtDDdY0JuoWQ
qTf5eBzxH2tAf65PUZ+IH7onxvrQbOuK3ya12nNTLbF+2otnnjikbhrLAAAAoDp05Cw6dO
QsAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNB+qGYjXQs7clif
zNg+0MN1jQm6hZCpN/l4HPEfa0B/rk9Rn4gfuifG+tBs64rfJrXac1MtsX7ai2eeOKRuGs
sAAAAhANArlM1eVvwUFvK2pBnTZEgSUEPttHSsbQB9m4wY1NdLAAAAAAECAwQFBgc=
-----END OPENSSH PRIVATE KEY-----
"""

RSA_2048 = """\
-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAABFwAAAAdzc2gtcn
NhAAAAAwEAAQAAAQEAveESYIFl/RmuALrWplGpnB9jh4S6x+8CYyJyelxCRnsiDZDLpWot
jwoaTKTtgoGAwiYJZdzJZp6EHmMor+IaZsiBwg1poSNo2avltcFP8KWhIW/CCEkOYfOB5F
fVVyIv8PTCpG9lLqLBuKN2RFR4IQvUxpvLPUG6Qt5BpvSULvq+OXNXL9RqVd9YncGqYhl9
MTMwgXVqxsE7ZYaphPYK6yHmCOLzp64dP2662atc+6xgeVPM8uHyPes2DyTFAxcO22uT3X
iP27VXTkdILKtnpkVt+fzgyjXjh/bEEoAVXj4ImVaN+3GLM44JlxF4s0SRAazGEcwLCA9V
3OkkppunbwAAA7hj4hHSY+IR0gAAAAdzc2gtcnNhAAABAQC94RJggWX9Ga4AutamUamcH2
OHhLrH7wJjInJ6XEJGeyINkMulai2PChpMpO2CgYDCJgll3MlmnoQeYyiv4hpmyIHCDWmh
I2jZq+W1wU/wpaEhb8IISQ5h84HkV9VXIi/w9MKkb2UuosG4o3ZEVHghC9TGm8s9QbpC3k
Gm9JQu+r45c1cv1GpV31idwapiGX0xMzCBdWrGwTtlhqmE9grrIeYI4vOnrh0/brrZq1z7
rGB5U8zy4fI96zYPJMUDFw7ba5PdeI/btVdOR0gsq2emRW35/ODKNeOH9sQSgBVePgiZVo
37cYszjgmXEXizRJEBrMYRzAsID1Xc6SSmm6dvAAAAAwEAAQAAAQATbrvrPYL7FAw5+I/W
5gemOejSlJPAZNEej9wdyAsOXIlf0GBPIF6OQ49CeySa6ncLfPS8RIwmIPX43YFrUrK3Wd
uRyRP05lio4k34O9MFwrsKtCiBoZHDwOCbxnNyifCpx9roakV1hY8EPv0abCH+kSU9uEcP
ZgZ9KR2YoRz4m7VXeNjwMmLjddHve5whagNHcJNw+EXuh9EHDD4i2x6n/PlhfSshfVhgVO
AGkWnkcwbugH+KZ+2/I36g4BZLcSvLu0VUDtNrlRJi4Wa6vMlzAW38xvVzU6IS50KER96X
TsQKPuRUTgwrKfrqABGj2DIKx+8l/qrXkBp/q/NXTNk5AAAAgDlfZfZH4JyZhp3SZn1+G2
WF9235S2tsWI9SJ5gwF5FqYkgKKvrrgosCAtD1tN5CmVEZSZD8PdrQANihRtl8ohFWt09Q
Mv77KbJwPHeTRjWgI5bXyPv3Sgl+WZMJRSzJ5SugyAOY1MY0x+QyKbaOZqnufm64brcpAb
5p9bxkRIw2AAAAgQDj0CzqsFSjSweLZ1ysSrG8rGTpBB0ib/eWmDvjnVuGdcT4vrYER0hA
p0iiHtw2ZRqhgUswK6pqENm3dW0MUpNWQP6ple7K0jP0JYJodg4fLCPfvULDzqVa7BpQHP
hpwxqMLEM2OihRlbbD4C+O0d0wKOHh77gWDVyrTFIuAv4fKQAAAIEA1V9c/bAbSK+u46zz
B+mV2GuRx+xzUNOBWeIQdteOjR5VrhJvegQovzX6JsV6v/JSfKGuUVYP87516ttJ5Hx/wV
jyCxXK99Ek5PosgkXAJ8F9szoaEMiOWV/XfOBM04rNQD9KBAnXjHVybdyUnIX6dQhGTDoH
dO3c3xr+4c1vHNcAAAAAAQID
-----END OPENSSH PRIVATE KEY-----
"""

ECDSA_P384 = """\
-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAiAAAABNlY2RzYS
1zaGEyLW5pc3RwMzg0AAAACG5pc3RwMzg0AAAAYQTNrvrfshgFHzNnr4GSlKg4G5537Dfu
Rs3YwAKEQwld0Irn67FuDcZDIVVbAw2sWa/7sUN3Pm+qxd2RYqS496NiH5qEb2FF1ICi40
d3ul2pPRgYB3k/IcBOcR63B9QVVgYAAADQjpHEV46RxFcAAAATZWNkc2Etc2hhMi1uaXN0
cDM4NAAAAAhuaXN0cDM4NAAAAGEEza7637IYBR8zZ6+BkpSoOBued+w37kbN2MAChEMJXd
CK5+uxbg3GQyFVWwMNrFmv+7FDdz5vqsXdkWKkuPejYh+ahG9hRdSAouNHd7pdqT0YGAd5
PyHATnEetwfUFVYGAAAAMQCKDXh3Mpw99tSIJooYzIbjfnqAF6PnyfvZbKHEA/yRNkUE9a
wK9zsZdOTzy2ZfHO8AAAAAAQIDBAUGBw==
-----END OPENSSH PRIVATE KEY-----
"""

ED25519_ENCRYPTED = """\
-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABADfc/ffa
NbtviR9LvxUNvsAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIDvPUNxgV/wPBBbE
kArR1lkNkwLhE8lp7WFCO9sW/dIkAAAAkNQtl/baGXgMiXDmwepYB/jnGzfq6JD7By9ssR
wUnH7EU/BwQIxPp0iVtr+M8jKj3BiZy5FPEY3ss5cy1Q0rd6aZtPnKFFWNF38rf9nPVPKF
z6MmbHt24wUPK0bgKYcJfEUOCHxW7EAyKMUJNi+re7/FJ/Ca77+ajP5/uqFsq/XWtWoozS
Vw4Zkzrmql8m81zw==
-----END OPENSSH PRIVATE KEY-----
"""


def ed25519_key(seed: bytes = bytes(range(32)), comment: str = "") -> str:
    public, secret = get_backend().sign_seed_keypair(seed)
    return sshkeys.ed25519_private(public, bytes(secret), comment, b"\x01\x02\x03\x04")


def _item(**changes: Any) -> dict[str, Any]:
    data = json.loads(ITEMS[0].to_json())
    data.update(kind="ssh-key", url="git.example.com", username="git", scopes=[])
    data.update(secret=ed25519_key())
    data.update(changes)
    return dict(data)


def _rewrap(text: str, width: int) -> str:
    body = "".join(text.splitlines()[1:-1])
    lines = [body[i : i + width] for i in range(0, len(body), width)]
    return sshkeys.BEGIN + "".join(line + "\n" for line in lines) + sshkeys.END


def _raw(text: str) -> bytes:
    return base64.b64decode("".join(text.splitlines()[1:-1]))


def _tampered_ed25519() -> str:
    """The Ed25519 key with one bit of the private section's public key changed (the key
    appears three times: the outer public key, the section's, the secret key's end)."""
    raw = bytearray(_raw(ed25519_key()))
    public, _ = get_backend().sign_seed_keypair(bytes(range(32)))
    second = raw.index(public, raw.index(public) + 1)
    raw[second + 31] ^= 1
    return sshkeys.armor(bytes(raw))


def _bad_padding() -> str:
    raw = bytearray(_raw(ed25519_key()))
    raw[-1] ^= 0xFF
    return sshkeys.armor(bytes(raw))


def ssh_key_vectors() -> list[dict[str, Any]]:
    keys = [
        Item(
            name="ed25519",
            kind="ssh-key",
            url="git.example.com",
            secret=ed25519_key(),
            username="git",
        ),
        Item(
            name="rsa",
            kind="ssh-key",
            url="a.example b.example",
            secret=RSA_3072,
            scopes=("confirm",),
        ),
        Item(name="ecdsa", kind="ssh-key", url="", secret=ECDSA_P256, note="signing only"),
    ]
    _, blob = build_vault(b"ssh-keys", items=keys)
    vectors = [
        vault_vector(
            "ok-ssh-key-items",
            "ssh-key items: Ed25519 for one host, RSA 3072 for two hosts with confirm, "
            "ECDSA P-256 for no host",
            blob,
            "ok",
            vault=reopen(blob, PASSPHRASE),
        )
    ]
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("rsa-2048", "an RSA key of 2048 bits", {"secret": RSA_2048}),
        ("ecdsa-p384", "an ECDSA key on P-384", {"secret": ECDSA_P384}),
        ("encrypted", "a passphrase-protected key", {"secret": ED25519_ENCRYPTED}),
        (
            "wrapped-64",
            "the key's base64 wrapped at 64 columns",
            {"secret": _rewrap(ed25519_key(), 64)},
        ),
        ("crlf", "CRLF line ends", {"secret": ed25519_key().replace("\n", "\r\n")}),
        (
            "public-mismatch",
            "the private section's public key differs from the outer one",
            {"secret": _tampered_ed25519()},
        ),
        ("bad-padding", "padding that is not 1, 2, 3, ...", {"secret": _bad_padding()}),
        ("not-a-key", "a token where the key goes", {"secret": "ghp_" + "x" * 36}),
        ("scope", "a scope other than confirm", {"scopes": ["admin"]}),
        ("host-comma", "hosts separated by a comma", {"url": "a.example,b.example"}),
        ("host-two-spaces", "hosts separated by two spaces", {"url": "a.example  b.example"}),
        ("username-space", "a username with a space", {"username": "git user"}),
    ]
    for name, description, changes in cases:
        full = f"item-ssh-key-{name}"
        vectors.append(
            vault_vector(
                full,
                description,
                forge_vault(full.encode(), [canonical_json(_item(**changes))]),
                "invalid_item",
            )
        )
    _, old = build_vault(b"ssh-key-format-1", items=keys[:1], version=1)
    vectors.append(
        vault_vector(
            "item-ssh-key-format-1",
            "an ssh-key item in a format-1 vault (the kind is format 2's)",
            old,
            "invalid_item",
        )
    )
    return vectors
