"""The main screens as people see them, and what axe-core says about them.

Screenshots of the sign-in-to-use path (unlock, credentials, add, a credential's details,
the remove confirmation, machines and runners, audit trail, settings, a waiting pairing
request) at 1280 and 1440 px (desktop) and 390 px (a phone), light and dark, are
compared with the baselines in tests/e2e/screenshots/ (copies for readers in
docs/screenshots/). Nothing on them depends on the day, the time zone or the locale:
the page clock, the server's and the identity provider's all start at the same fixed
moment (libfaketime for the processes), the browser runs in UTC with en-US, and the
server in UTC with the C locale. Times, fingerprints and other text that changes per
run are masked. The comparison is strict enough that a one-word change fails it (a
test below proves it on every run). To accept a deliberate change:

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

from tests.e2e.conftest import (
    STRONG,
    App,
    assert_top_bar_does_not_wrap,
    new_app,
    poll,
    request_pairing,
)
from tests.support.dpop import server_clock_offset
from tests.support.processes import ROOT, ServerProcess, start_idp, start_server, stop
from vault_core import RunnerKeyPair

SUB = "ada-screens"
CLOCK = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)  # "now" for the page, the server and the IdP
PROCESS_CLOCK = CLOCK.strftime("@%Y-%m-%d %H:%M:%S")  # libfaketime: starts there, runs on
WIDTHS = {1280: 800, 1440: 900, 390: 844}
Scheme = Literal["light", "dark"]
SCHEMES: tuple[Scheme, ...] = ("light", "dark")
BASELINES = ROOT / "tests" / "e2e" / "screenshots"
DOCS_COPY = ROOT / "docs" / "screenshots"
UPDATE = os.environ.get("ZKVAULT_UPDATE_SCREENSHOTS") == "1"
CHANNEL_TOLERANCE = 40  # a pixel differs if a colour channel moved more than this
# Pixels allowed to differ. Rendering here is deterministic (software rasterising, the
# same fonts): runs differ by 0 pixels, while one changed word moves hundreds, which
# test_one_changed_word_fails_the_comparison checks on every run.
MAX_DIFFERING_PIXELS = 20
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

# Text that differs from run to run: rewritten to a fixed shape (every digit 0, every
# letter x) so that its width, and with it the layout around it, is the same on every
# run, then hidden as well.
MASKS = (
    ".time",
    ".fingerprint",
    "#machines-body .item-meta",
    "#pair-expires",  # the countdown
    "#pair-code",  # this run's code
    "#account-server",  # this run's port
    "#account-issuer",
    "#export-commands",  # the account id
)
# Every screen, in the order shot: the pairing request looked up last before locking (the
# lock drops it, so no later screen shows its banner).
SCREENS = ("items", "add", "detail", "confirm", "devices", "audit", "settings", "pairing", "unlock")
# Screens that are a dialog over the page: left open by _screen, closed with Escape.
DIALOGS = ("add", "detail", "confirm")
NEUTRALISE_JS = """(selectors) => {
  for (const sel of selectors)
    for (const e of document.querySelectorAll(sel))
      e.textContent = e.textContent.replace(/[0-9]/g, "0").replace(/[A-Za-z]/g, "x");
}"""
STILL_NEUTRAL_JS = """(selectors) => selectors.every((sel) =>
  [...document.querySelectorAll(sel)].every((e) => !/[1-9A-Za-wyz]/.test(e.textContent)))"""
# Resolves once the page's DOM has not changed for 300 ms (at most 5 s): a view that
# renders twice (the audit trail: its events, then the names) is shot after the last.
QUIET_JS = """() => new Promise((resolve) => {
  const done = () => { observer.disconnect(); clearTimeout(cap); resolve(); };
  let quiet = setTimeout(done, 300);
  const cap = setTimeout(done, 5000);
  const observer = new MutationObserver(() => {
    clearTimeout(quiet);
    quiet = setTimeout(done, 300);
  });
  observer.observe(document.body, { subtree: true, childList: true, characterData: true });
})"""

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
def idp() -> Iterator[str]:
    """This module's own identity provider, on the fixed clock (its id_tokens' times must
    agree with the server's)."""
    url, proc = start_idp(clock=PROCESS_CLOCK)
    yield url
    stop(proc)


@pytest.fixture(scope="module")
def server(
    idp: str, built_assets: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """This module's own server on the fixed clock: the audit trail's times (and with them
    the width of every column) are the same on every day."""
    srv = start_server(
        idp, tmp_path_factory.mktemp("server"), clock_offset=PROCESS_CLOCK, LC_ALL="C.UTF-8"
    )
    yield srv
    stop(srv.proc)


@pytest.fixture(scope="module")
def shots(browser: Browser, server: ServerProcess, idp: str) -> Iterator[App]:
    """One vault with credentials of every kind (one expired, one expiring), a paired
    machine and an enrolled runner with a grant, seen at a fixed date."""
    app = new_app(
        browser,
        server,
        idp,
        clock_time=CLOCK,
        bypass_csp=True,
        timezone_id="UTC",
        locale="en-US",
    )
    app.page.set_viewport_size({"width": 1280, "height": 800})
    app.open("/")
    app.sign_in(SUB)
    app.wait_engine()
    app.create_vault(STRONG)
    for name, kind, url, user, token, scopes, expires in ITEMS:
        app.add_item(name, token, kind=kind, url=url, username=user, scopes=scopes, expires=expires)
    offset = server_clock_offset(server.url)  # the server's clock is fixed; ours is not
    machine = request_pairing(server, "machine", "ada-laptop", clock_offset=offset)
    runner_key = RunnerKeyPair.generate().public_key
    runner = request_pairing(server, "runner", "ci-runner-1", runner_key, clock_offset=offset)
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
        # The runner's card is complete once the vault's grants are read, not before.
        page.locator("#runners-body [data-runner]").get_by_text("Gets: github-ci").wait_for()
    elif screen == "audit":
        app.go("Audit trail")
        page.locator("#audit-body tr").first.wait_for()
    elif screen == "detail":
        app.item_menu("github-ci", "Details")
        page.locator("#detail-history li[data-revision]").first.wait_for()
        page.locator("#detail-runners [data-runner]").first.wait_for()
    elif screen == "confirm":
        app.item_menu("npm-publish", "Remove")
        page.locator("#confirm-dialog").wait_for(state="visible")
    elif screen == "settings":
        app.go("Settings")
        page.locator("#sessions-body li").first.wait_for()
    elif screen == "pairing":
        offset = server_clock_offset(app.server.url)
        pairing = request_pairing(app.server, "machine", "ada-desktop", clock_offset=offset)
        app.go("Approve a pairing")
        page.get_by_label("Pairing code").fill(pairing["code"])
        page.get_by_role("button", name="Look up").click()
        page.wait_for_function(
            "() => !document.getElementById('pair-details').hidden || "
            "!document.getElementById('error').hidden"
        )
        assert page.locator("#error").is_hidden(), page.locator("#error").text_content()
        # Under ten minutes left: "9:59" and "9:58" have one shape, "10:00" another.
        page.wait_for_function(
            "() => /^\\d:\\d\\d /.test(document.getElementById('pair-expires').textContent)"
        )
    elif screen == "unlock":
        app.lock()
    # A view re-renders when its data arrives (the audit trail twice: events, then names);
    # a mask resolved before the last render would miss the elements that replaced it.
    page.wait_for_load_state("networkidle")
    if screen != "add":
        _settle(app)
        if screen in DIALOGS:  # the dialog's own focus ring, on no button
            page.evaluate("() => document.activeElement && document.activeElement.blur()")


def _compare(comparer: Page, actual: bytes, baseline: Path) -> str | None:
    """None when ``actual`` matches the baseline, else what differs."""
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
    if got["differing"] > MAX_DIFFERING_PIXELS:
        share = got["differing"] / got["total"]
        return f"{baseline.name}: {got['differing']} pixels differ ({share:.2%})"
    return None


def _shoot(page: Page) -> bytes:
    """The screen once it has settled, its changing text neutralised; taken again if the
    page re-rendered that text while the shot was being taken."""
    for _ in range(3):
        page.evaluate(QUIET_JS)
        page.evaluate(NEUTRALISE_JS, list(MASKS))
        png = page.screenshot(
            animations="disabled",
            caret="hide",
            mask=[page.locator(m) for m in MASKS],
            mask_color="#7f7f7f",
        )
        if page.evaluate(STILL_NEUTRAL_JS, list(MASKS)):
            return png
    raise AssertionError("the page kept re-rendering the text the shots neutralise")


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_main_screens_match_their_baselines(
    shots: App, comparer: Page, width: int, scheme: Scheme, tmp_path: Path
) -> None:
    page = shots.page
    page.set_viewport_size({"width": width, "height": WIDTHS[width]})
    page.emulate_media(color_scheme=scheme)
    problems = []
    for screen in SCREENS:
        _screen(shots, screen)
        # Nothing may rely on a style attribute: the real CSP would block it. (Chromium
        # itself leaves an empty one on inputs it has offered to autofill.)
        styled = page.evaluate(
            "[...document.querySelectorAll('[style]')].filter(e => e.getAttribute('style').trim())"
            ".map(e => e.id + ': ' + e.getAttribute('style'))"
        )
        assert styled == []
        # The navigation never wraps: one row of top bar (and on a phone the line saying
        # who is signed in), one column of sections.
        assert_top_bar_does_not_wrap(page)
        png = _shoot(page)
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
        if screen in DIALOGS:
            page.keyboard.press("Escape")
    assert problems == []
    assert shots.rec.page_errors == []


# One word swapped for another in the page's visible text (the first place it stands): in
# small grey text, in body text, in a list row and on a button.
ONE_WORD_CHANGES = (
    ("stored", "saved"),
    ("Rotate", "Renew"),
    ("builder", "release"),
    ("Copy", "Take"),
)
SWAP_WORD_JS = r"""([from, to]) => {
  const re = new RegExp(`\\b${from}\\b`);
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walk.nextNode(); n; n = walk.nextNode()) {
    if (re.test(n.data) && n.parentElement.checkVisibility()) {
      window.__swapped = [n, n.data];
      n.data = n.data.replace(re, to);
      return true;
    }
  }
  return false;
}"""


def test_one_changed_word_fails_the_comparison(shots: App, comparer: Page) -> None:
    """The comparison above can say no: the unchanged screen matches its baseline, and
    each one-word change to it does not."""
    page = shots.page
    page.set_viewport_size({"width": 1280, "height": WIDTHS[1280]})
    page.emulate_media(color_scheme="light")
    _screen(shots, "items")
    baseline = BASELINES / "items-1280-light.png"
    assert _compare(comparer, _shoot(page), baseline) is None
    caught = {}
    for old, new in ONE_WORD_CHANGES:
        assert page.evaluate(SWAP_WORD_JS, [old, new]), f"no {old!r} on the screen"
        caught[old] = _compare(comparer, _shoot(page), baseline)
        page.evaluate("() => { const [node, text] = window.__swapped; node.data = text; }")
    assert [old for old, problem in caught.items() if problem is None] == []
    assert _compare(comparer, _shoot(page), baseline) is None  # restored


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
        for screen in SCREENS:
            _screen(shots, screen)
            found[f"{screen}@{width}"] = _axe(page)
            if screen in DIALOGS:
                page.keyboard.press("Escape")
        shots.ensure_unlocked(SUB, STRONG)
        for section in ("Approve a pairing", "Revisions"):
            shots.go(section)
            found[f"{section}@{width}"] = _axe(page)
        # The "⋯" menu open, the emergency kit and "Pair a new machine".
        shots.go("Credentials")
        shots.row("github-ci").get_by_role("button", name="More actions for github-ci").click()
        found[f"menu-open@{width}"] = _axe(page)
        page.keyboard.press("Escape")
        shots.go("Settings")
        page.get_by_role("button", name="Show the emergency kit").click()
        found[f"kit@{width}"] = _axe(page)
        page.keyboard.press("Escape")
        shots.go("Approve a pairing")
        page.get_by_role("button", name="Pair a new machine").click()
        found[f"pair-new@{width}"] = _axe(page)
        page.get_by_role("button", name="Pair a new machine").click()
        if width == 390:
            page.get_by_role("button", name="Menu").click()
            found["menu@390"] = _axe(page)
            page.keyboard.press("Escape")
    violations = {k: v for k, v in found.items() if v}
    assert violations == {}, json.dumps(violations, indent=1)
    per_width = len(SCREENS) + 2 + 3
    assert len(found) == (
        2 * per_width + 1 if scheme == "light" else per_width
    )  # every screen was checked
    # And axe does see a violation when there is one (so the check above can fail).
    page.evaluate("document.querySelector('main').append(document.createElement('img'))")
    assert "image-alt" in {v["id"] for v in _axe(page)}
    page.evaluate("document.querySelector('main > img').remove()")
