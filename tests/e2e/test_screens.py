"""The main screens as people see them, and what axe-core says about them.

Screenshots of the sign-in-to-use path (unlock, credentials, add, machines and runners,
audit trail) at 1280 and 1440 px (desktop) and 390 px (a phone), light and dark, are
compared with the baselines in tests/e2e/screenshots/ (copies for readers in
docs/screenshots/). The page clock starts at a fixed date so expiry warnings read the
same on every run; times, fingerprints and other text that changes per run are masked;
a few pixels may differ (font rasterising). To accept a deliberate change:

    ZKVAULT_UPDATE_SCREENSHOTS=1 .venv/bin/pytest tests/e2e/test_screens.py

axe-core (pinned in package.json; every screen at 1280 px in both themes and at 390 px
in light) is loaded from node_modules into the page with
Playwright's add_script_tag. That is an inline script, which the app's CSP forbids, so
this module's browser context bypasses CSP; it asserts instead that no element carries
a style attribute (which CSP would block in real use). Every other module runs under the
real policy and asserts there are no violations.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.conftest import STRONG, App, new_app, poll, request_pairing
from tests.support.processes import ROOT, ServerProcess
from vault_core import RunnerKeyPair

SUB = "ada-screens"
CLOCK = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)  # the page's "now": fixed expiry wording
WIDTHS = {1280: 800, 1440: 900, 390: 844}
Scheme = Literal["light", "dark"]
SCHEMES: tuple[Scheme, ...] = ("light", "dark")
BASELINES = ROOT / "tests" / "e2e" / "screenshots"
DOCS_COPY = ROOT / "docs" / "screenshots"
UPDATE = os.environ.get("ZKVAULT_UPDATE_SCREENSHOTS") == "1"
CHANNEL_TOLERANCE = 40  # a pixel differs if a colour channel moved more than this
MAX_DIFFERING = 0.003  # share of pixels allowed to differ (anti-aliasing, hinting)
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

ITEMS = [  # name, kind, url, username, token, scopes, expires
    ("github-ci", "github", "https://github.com", "ada", "ghp_" + "a1B2" * 9, "repo", "2027-03-01"),
    (
        "gitlab-deploy",
        "gitlab",
        "https://gitlab.example.test",
        "deploy-bot",
        "glpat-" + "x9Y8" * 5,
        "read_repository",
        "2026-06-08",
    ),
    (
        "bitbucket-release",
        "bitbucket",
        "https://bitbucket.org",
        "ada-l",
        "ATBB" + "k3" * 14,
        "repository:write",
        "2026-05-20",
    ),
    (
        "ghe-mirror",
        "github-enterprise",
        "https://github.example.com",
        "ada",
        "github_pat_" + "Z7" * 20,
        "",
        "",
    ),
    (
        "internal-git",
        "git",
        "https://git.example.test:8443",
        "builder",
        "s3cret-" + "q" * 20,
        "",
        "",
    ),
    ("npm-publish", "generic", "https://registry.npmjs.org", "", "npm_" + "R4" * 18, "", ""),
]

# Text that differs from run to run, hidden in the comparison.
MASKS = (
    ".time",
    ".fingerprint",
    "#machines-body .item-meta",
)

COMPARE_JS = """async ([a, b, tolerance]) => {
  const load = async (b64) => createImageBitmap(new Blob(
      [Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], {type: 'image/png'}));
  const [ia, ib] = await Promise.all([load(a), load(b)]);
  if (ia.width !== ib.width || ia.height !== ib.height)
    return {differing: -1, total: 0, size: [ia.width, ia.height, ib.width, ib.height]};
  const pixels = (img) => {
    const c = new OffscreenCanvas(img.width, img.height);
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    return ctx.getImageData(0, 0, img.width, img.height).data;
  };
  const pa = pixels(ia), pb = pixels(ib);
  let differing = 0;
  for (let i = 0; i < pa.length; i += 4) {
    if (Math.abs(pa[i] - pb[i]) > tolerance || Math.abs(pa[i + 1] - pb[i + 1]) > tolerance ||
        Math.abs(pa[i + 2] - pb[i + 2]) > tolerance) differing++;
  }
  return {differing, total: ia.width * ia.height};
}"""


@pytest.fixture(scope="module")
def shots(browser: Browser, server: ServerProcess, idp: str) -> Iterator[App]:
    """One vault with credentials of every kind (one expired, one expiring), a paired
    machine and an enrolled runner with a grant, seen at a fixed date."""
    app = new_app(browser, server, idp, clock_time=CLOCK, bypass_csp=True)
    app.page.set_viewport_size({"width": 1280, "height": 800})
    app.open("/")
    app.sign_in(SUB)
    app.wait_engine()
    app.create_vault(STRONG)
    for name, kind, url, user, token, scopes, expires in ITEMS:
        app.add_item(name, token, kind=kind, url=url, username=user, scopes=scopes, expires=expires)
    machine = request_pairing(server, "machine", "ada-laptop")
    runner = request_pairing(server, "runner", "ci-runner-1", RunnerKeyPair.generate().public_key)
    for pairing in (machine, runner):
        app.go("Approve a pairing")
        app.page.get_by_label("Pairing code").fill(pairing["code"])
        app.page.get_by_role("button", name="Look up").click()
        app.page.get_by_role("button", name="Approve", exact=True).click()
        app.notice("Approved")
        assert poll(server, pairing)["status"] == "approved"
    app.go("Machines & runners")
    app.page.get_by_role("button", name="Grant items to ci-runner-1").click()
    app.page.get_by_role("checkbox", name="github-ci", exact=True).check()
    app.page.get_by_role("button", name="Save grant").click()
    app.notice("Granted 1 item(s)")
    yield app
    app.context.close()


@pytest.fixture(scope="module")
def comparer(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    yield context.new_page()  # about:blank: decodes and compares PNGs with a canvas
    context.close()


def _settle(app: App) -> None:
    """No focus ring, hover or message banner: what was shown last depends on test order."""
    app.page.mouse.move(1, 1)
    app.page.evaluate("() => document.activeElement && document.activeElement.blur()")
    app.page.evaluate(
        "() => { for (const id of ['notice', 'error']) document.getElementById(id).hidden = true; }"
    )
    app.page.evaluate("() => document.fonts.ready")


def _screen(app: App, screen: str) -> None:
    """Bring the app to one of the main screens."""
    page = app.page
    app.ensure_unlocked(SUB, STRONG)
    _settle(app)
    if screen == "items":
        app.row("npm-publish").wait_for()
    elif screen == "add":
        page.get_by_role("button", name="Add a credential").click()
        page.locator("#item-form").get_by_label("Kind").select_option("gitlab")
        page.locator("#item-form").get_by_label("Name", exact=True).fill("gitlab-release")
    elif screen == "devices":
        app.go("Machines & runners")
        page.locator("#runners-body [data-runner]").first.wait_for()
    elif screen == "audit":
        app.go("Audit trail")
        page.locator("#audit-body tr").first.wait_for()
    elif screen == "unlock":
        app.lock()
    # A view re-renders when its data arrives (the audit trail twice: events, then names);
    # a mask resolved before the last render would miss the elements that replaced it.
    page.wait_for_load_state("networkidle")
    if screen != "add":
        _settle(app)


def _compare(comparer: Page, actual: bytes, baseline: Path) -> str | None:
    if not baseline.is_file():
        return f"no baseline {baseline.name}"
    got = comparer.evaluate(
        COMPARE_JS,
        [
            base64.b64encode(baseline.read_bytes()).decode(),
            base64.b64encode(actual).decode(),
            CHANNEL_TOLERANCE,
        ],
    )
    if got["differing"] < 0:
        return f"{baseline.name}: size {got['size']}"
    share = got["differing"] / got["total"]
    if share > MAX_DIFFERING:
        return f"{baseline.name}: {got['differing']} pixels differ ({share:.2%})"
    return None


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_main_screens_match_their_baselines(
    shots: App, comparer: Page, width: int, scheme: Scheme, tmp_path: Path
) -> None:
    page = shots.page
    page.set_viewport_size({"width": width, "height": WIDTHS[width]})
    page.emulate_media(color_scheme=scheme)
    problems = []
    for screen in ("items", "add", "devices", "audit", "unlock"):
        _screen(shots, screen)
        # Nothing may rely on a style attribute: the real CSP would block it. (Chromium
        # itself leaves an empty one on inputs it has offered to autofill.)
        styled = page.evaluate(
            "[...document.querySelectorAll('[style]')].filter(e => e.getAttribute('style').trim())"
            ".map(e => e.id + ': ' + e.getAttribute('style'))"
        )
        assert styled == []
        # The navigation never wraps: one row of top bar, one column of sections.
        assert page.evaluate("document.querySelector('.topbar').offsetHeight") <= 60
        png = page.screenshot(
            animations="disabled",
            caret="hide",
            mask=[page.locator(m) for m in MASKS],
            mask_color="#7f7f7f",
        )
        name = f"{screen}-{width}-{scheme}.png"
        if UPDATE:
            BASELINES.mkdir(parents=True, exist_ok=True)
            DOCS_COPY.mkdir(parents=True, exist_ok=True)
            (BASELINES / name).write_bytes(png)
            shutil.copyfile(BASELINES / name, DOCS_COPY / name)
        problem = _compare(comparer, png, BASELINES / name)
        if problem:
            (tmp_path / name).write_bytes(png)
            problems.append(f"{problem} (actual: {tmp_path / name})")
        if screen == "add":
            page.keyboard.press("Escape")
    assert problems == []
    assert shots.rec.page_errors == []


def _axe(page: Page) -> list[dict[str, Any]]:
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_axe_finds_no_violation_on_any_screen(shots: App, scheme: Scheme) -> None:
    page = shots.page
    found: dict[str, Any] = {}
    # The phone layout differs in structure, not colour: checked once, in light.
    for width in (1280, 390) if scheme == "light" else (1280,):
        page.set_viewport_size({"width": width, "height": WIDTHS[width]})
        page.emulate_media(color_scheme=scheme)
        for screen in ("items", "add", "devices", "audit", "unlock"):
            _screen(shots, screen)
            found[f"{screen}@{width}"] = _axe(page)
            if screen == "add":
                page.keyboard.press("Escape")
        shots.ensure_unlocked(SUB, STRONG)
        for section in ("Approve a pairing", "Revisions", "Settings"):
            shots.go(section)
            found[f"{section}@{width}"] = _axe(page)
        if width == 390:
            page.get_by_role("button", name="Menu").click()
            found["menu@390"] = _axe(page)
            page.keyboard.press("Escape")
    violations = {k: v for k, v in found.items() if v}
    assert violations == {}, json.dumps(violations, indent=1)
    assert len(found) == (17 if scheme == "light" else 8)  # every screen was checked
    # And axe does see a violation when there is one (so the check above can fail).
    page.evaluate("document.querySelector('main').append(document.createElement('img'))")
    assert "image-alt" in {v["id"] for v in _axe(page)}
    page.evaluate("document.querySelector('main > img').remove()")
