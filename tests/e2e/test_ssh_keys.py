"""SSH keys in the web app (issue 20, part 6; docs/web.md, "SSH keys"): an Ed25519 key
generated in the worker, an OpenSSH key pasted and read there, the public key and its
fingerprint (checked with Debian's ssh-keygen) with Copy and where the provider takes
deploy keys, the private key absent from the page until Show, and a passphrase-protected
key refused with the CLI command that opens it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import STRONG, App

SUB = "ada-ssh"
MASK = "••••••••"
# How every OpenSSH private key's base64 begins ("openssh-key-v1\0"): on the page only
# while one is shown.
KEY_BODY = "b3BlbnNzaC1rZXktdjE"


def _keygen(directory: Path, name: str, *args: str) -> Path:
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-C", f"{name}@test", "-f", str(path), *args],
        check=True,
    )
    return path


def _keygen_fingerprint(public_line: str, directory: Path) -> str:
    """``ssh-keygen -lf`` of a public key line: OpenSSH's own fingerprint of it."""
    path = directory / "shown.pub"
    path.write_text(public_line + "\n")
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(path)], check=True, capture_output=True, text=True
    )
    return out.stdout.split()[1]


def _key_lines(private: str) -> list[str]:
    return [line for line in private.splitlines() if line and not line.startswith("-----")]


def _page_holds(app: App, needle: str) -> bool:
    """Anywhere a page could hold text: its markup and every field's value."""
    values = app.page.evaluate(
        "() => [...document.querySelectorAll('input, textarea')].map(e => e.value).join('\\n')"
    )
    return needle in app.page.content() or needle in str(values)


def _open_ssh_form(app: App, name: str, hosts: str) -> None:
    page = app.page
    page.get_by_role("button", name="Add a credential").click()
    form = page.locator("#item-form")
    form.get_by_label("Kind").select_option("ssh-key")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Host or endpoint URL").fill(hosts)
    form.get_by_label("Username").fill("git")
    assert not form.get_by_label("Token", exact=True).is_visible()  # no token field
    assert form.get_by_label("Generate a new Ed25519 key").is_checked()


@pytest.fixture(scope="module")
def vault(app: App) -> App:
    app.open("/")
    app.sign_in(SUB, name="Ada Lovelace")
    app.wait_engine()
    app.create_vault(STRONG)
    return app


@pytest.fixture
def ready(vault: App) -> App:
    vault.ensure_unlocked(SUB, STRONG)
    return vault


def test_a_generated_key_shows_its_public_half_with_copy_and_the_deploy_key_page(
    ready: App, tmp_path: Path
) -> None:
    page = ready.page
    _open_ssh_form(ready, "deploy", "github.com")
    page.get_by_role("button", name="Save", exact=True).click()
    ready.notice("Added “deploy”")
    # The details open on the new key: its public line and fingerprint, made in the worker.
    sheet = page.locator("#item-detail")
    sheet.wait_for(state="visible")
    page.wait_for_function(
        "() => document.getElementById('detail-ssh-public').textContent.startsWith('ssh-ed25519 ')"
    )
    public = page.locator("#detail-ssh-public").text_content() or ""
    shown_fp = page.locator("#detail-ssh-fingerprint").text_content() or ""
    assert public.endswith(" deploy") and shown_fp.startswith("SHA256:")
    assert _keygen_fingerprint(public, tmp_path) == shown_fp
    # Copy puts the public line on the clipboard.
    sheet.get_by_role("button", name="Copy public key").click()
    page.locator("#detail-ssh-copy-status").get_by_text("Public key copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == public
    # Where GitHub takes deploy keys, chosen by the item's host.
    github = sheet.locator('.deploy-line[data-provider="GitHub"]')
    assert "Deploy keys" in (github.text_content() or "")
    guide = github.get_by_role("link", name="how to add a deploy key on GitHub")
    assert (guide.get_attribute("href") or "").startswith("https://docs.github.com/")
    assert sheet.locator('.deploy-line[data-provider="GitLab"]').count() == 0
    # The private key is nowhere on the page until Show, and masked again after.
    assert not _page_holds(ready, KEY_BODY)
    assert page.locator("#detail-secret").text_content() == MASK
    sheet.get_by_role("button", name="Show", exact=True).click()
    page.wait_for_function(
        "() => document.getElementById('detail-secret').textContent"
        ".startsWith('-----BEGIN OPENSSH PRIVATE KEY-----')"
    )
    private = page.locator("#detail-secret").text_content() or ""
    key_file = tmp_path / "revealed"
    key_file.write_text(private)
    key_file.chmod(0o600)
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(key_file)], check=True, capture_output=True, text=True
    )
    assert derived.stdout.split()[:2] == public.split()[:2]  # the pair ssh-keygen sees
    page.clock.fast_forward(16_000)
    page.wait_for_function(
        f"() => document.getElementById('detail-secret').textContent === '{MASK}'"
    )
    assert not _page_holds(ready, KEY_BODY)
    page.keyboard.press("Escape")
    sheet.wait_for(state="hidden")
    # The row's Copy is the public key's; the private key is not offered there.
    page.evaluate("navigator.clipboard.writeText('')")
    ready.row("deploy").get_by_role("button", name="Copy public key of deploy").click()
    ready.row("deploy").get_by_text("Public key copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == public
    ready.row("deploy").get_by_role("button", name="More actions for deploy").click()
    items = ready.row("deploy").get_by_role("menuitem").all_text_contents()
    assert items == ["Details", "Edit", "Remove"]
    page.keyboard.press("Escape")


def test_a_pasted_openssh_key_has_ssh_keygens_fingerprint_and_leaves_no_copy(
    ready: App, tmp_path: Path
) -> None:
    page = ready.page
    key = _keygen(tmp_path, "imported", "-N", "")
    private = key.read_text()
    public_file = Path(f"{key}.pub").read_text().strip()
    listed = subprocess.run(
        ["ssh-keygen", "-lf", f"{key}.pub"], check=True, capture_output=True, text=True
    ).stdout.split()[1]
    _open_ssh_form(ready, "imported", "gitlab.com bitbucket.org")
    form = page.locator("#item-form")
    form.get_by_label("Paste a private key").check()
    form.get_by_label("OpenSSH private key").fill(private)
    check = page.locator("#item-ssh-check")
    check.get_by_text(listed).wait_for()  # read in the worker, before saving
    assert "ssh-ed25519" in (check.text_content() or "")
    page.get_by_role("button", name="Save", exact=True).click()
    ready.notice("Added “imported”")
    page.wait_for_function(
        "f => document.getElementById('detail-ssh-fingerprint').textContent === f", arg=listed
    )
    assert page.locator("#detail-ssh-public").text_content() == public_file
    sheet = page.locator("#item-detail")
    assert page.locator("#detail-host").text_content() == "gitlab.com bitbucket.org"
    for provider in ("GitLab", "Bitbucket"):
        assert sheet.locator(f'.deploy-line[data-provider="{provider}"]').is_visible()
    # The pasted key went with the form: not in the page, and never sent in the clear.
    for line in _key_lines(private):
        assert not _page_holds(ready, line)
        assert not any(line.encode() in body for body in ready.rec.bodies)
    page.keyboard.press("Escape")


def test_a_passphrase_protected_key_is_refused_with_the_cli_command_that_opens_it(
    ready: App, tmp_path: Path
) -> None:
    page = ready.page
    key = _keygen(tmp_path, "locked", "-N", "a passphrase for the file")
    _open_ssh_form(ready, "locked", "github.com")
    form = page.locator("#item-form")
    form.get_by_label("Paste a private key").check()
    form.get_by_label("OpenSSH private key").fill(key.read_text())
    check = page.locator('#item-ssh-check[data-code="ssh_key_encrypted"]')
    check.wait_for()
    said = check.text_content() or ""
    assert "passphrase" in said and "zkvault add NAME --kind ssh-key --import FILE" in said
    # Saving anyway is refused with the same words, in the dialog; nothing is added.
    page.get_by_role("button", name="Save", exact=True).click()
    ready.error("--kind ssh-key --import FILE")
    assert page.locator("#error").get_attribute("data-code") == "ssh_key_encrypted"
    assert "zkvault add" in (page.locator("#item-dialog .dialog-error").text_content() or "")
    page.keyboard.press("Escape")
    # The dialog's close event (a task after Escape) is what clears the pasted key.
    page.wait_for_function(
        "() => !document.getElementById('item-dialog').open"
        " && document.getElementById('item-ssh-paste').value === ''"
    )
    assert "locked" not in ready.item_names()
    assert not _page_holds(ready, KEY_BODY)


def test_no_page_errors_foreign_requests_or_csp_violations(ready: App) -> None:
    assert ready.rec.page_errors == []
    assert ready.rec.foreign() == []
    assert ready.csp_violations() == []
