"""End-to-end fixtures: the real OIDC provider and zkvault server as processes, Debian's
Chromium driven by Playwright, and the built web assets.

Every page records: all requests (and which origin made them), CSP violations (from the
securitypolicyviolation event, in the page and the worker) and console errors. Tests
assert on those at the end of each module.
"""

from __future__ import annotations

import secrets
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.support.dpop import DpopAuth, DpopKey
from tests.support.processes import ROOT, ServerProcess, start_idp, start_server, stop
from vault_core.b64url import b64url_decode, b64url_encode

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ENGINE_TIMEOUT_MS = 60_000
STRONG = "orbit velvet crater mango lantern"
STRONG_2 = "tulip harbor quartz violin ember"

# Reports CSP violations from the page; the worker reports its own through the page's
# console (Chromium logs them there).
_RECORD_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


@pytest.fixture(scope="session")
def built_assets() -> Path:
    subprocess.run(
        [sys.executable, str(ROOT / "tools" / "build_web.py")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return ROOT / "web" / "dist"


@pytest.fixture(scope="session")
def idp() -> Iterator[str]:
    url, proc = start_idp()
    yield url
    stop(proc)


@pytest.fixture(scope="module")
def server(
    idp: str, built_assets: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    srv = start_server(idp, tmp_path_factory.mktemp("server"))
    yield srv
    stop(srv.proc)


# Other directories reuse these fixtures by importing them (tests/hostile/conftest.py), so
# pytest may set up "playwright_instance" once per directory in one session; Playwright's
# sync API can only be started once per thread, so every set-up shares one instance.
_PLAYWRIGHT: dict[str, Any] = {}


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    if not _PLAYWRIGHT:
        manager = sync_playwright()
        _PLAYWRIGHT.update(instance=manager.__enter__(), manager=manager, users=0)
    _PLAYWRIGHT["users"] += 1
    try:
        yield _PLAYWRIGHT["instance"]
    finally:
        _PLAYWRIGHT["users"] -= 1
        if not _PLAYWRIGHT["users"]:
            _PLAYWRIGHT.pop("manager").__exit__(None, None, None)
            _PLAYWRIGHT.clear()


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    b = playwright_instance.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
    yield b
    b.close()


@dataclass
class Recorder:
    origin: str
    idp_origin: str
    requests: list[tuple[str, str]] = field(default_factory=list)  # (url, initiator frame)
    bodies: list[bytes] = field(default_factory=list)  # every request body sent
    console_errors: list[str] = field(default_factory=list)
    csp_console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)  # uncaught exceptions in the page

    def foreign(self) -> list[str]:
        """Requests to an origin other than ours, except the IdP's own page assets."""
        bad = []
        for url, frame in self.requests:
            origin = _origin(url)
            if origin in (self.origin, self.idp_origin) or url.startswith(("data:", "blob:")):
                continue
            if frame.startswith(self.idp_origin):
                continue  # the identity provider's page loading its own stylesheet
            bad.append(url)
        return bad


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class App:
    """One person's browser on the web app, with helpers for each flow."""

    page: Page
    context: BrowserContext
    server: ServerProcess
    idp: str
    rec: Recorder
    sub: str = ""
    prompt_answer: str = ""

    # -- navigation and sign-in --------------------------------------------------------------

    def open(self, path: str = "/") -> None:
        self.page.goto(self.server.url + path)

    def wait_engine(self) -> None:
        self.page.wait_for_selector(
            "#engine[data-ready]", state="attached", timeout=ENGINE_TIMEOUT_MS
        )

    def sign_in(self, sub: str, name: str = "Ada Lovelace") -> None:
        self.sub = sub
        httpx.put(
            f"{self.idp}/users/{sub}", json={"email": f"{sub}@example.test", "name": name}
        ).raise_for_status()
        self.page.get_by_role("link", name="Sign in").click()
        self.page.wait_for_url(f"{self.idp}/**")
        self.page.fill("input[name=sub]", sub)
        self.page.get_by_role("button", name="Authorize", exact=True).click()
        self.page.wait_for_url(f"{self.server.url}/**")

    def visible(self, view: str) -> None:
        self.page.wait_for_selector(f"#view-{view}:not([hidden])", timeout=30_000)

    def current_view(self) -> str:
        return str(
            self.page.evaluate(
                "() => [...document.querySelectorAll('.view')].find(v => !v.hidden)?.id || ''"
            )
        ).removeprefix("view-")

    def ensure_unlocked(self, sub: str, passphrase: str) -> None:
        """Bring the page to the unlocked credentials list, whatever an earlier test left:
        signed out, locked, a dialog open, another section shown."""
        self.page.wait_for_function(
            "() => [...document.querySelectorAll('.view')].some(v => !v.hidden && "
            "v.id !== 'view-loading')",
            timeout=30_000,
        )
        self.page.evaluate(
            "() => document.querySelectorAll('dialog[open]').forEach(d => d.close())"
        )
        view = self.current_view()
        if view == "signin":
            self.sign_in(sub)
            self.page.wait_for_selector("#view-unlock:not([hidden])", timeout=30_000)
            view = "unlock"
        if view == "unlock":
            self.unlock(passphrase)
            self.visible("items")
        elif view != "items":
            self.go("Credentials")
            self.visible("items")
        self.page.locator("#item-search").fill("")
        self.page.locator("#item-filter").select_option("")
        # A banner left by the previous test must not satisfy this test's wait.
        self.page.evaluate(
            "() => { for (const id of ['notice', 'error']) "
            "document.getElementById(id).hidden = true; }"
        )

    # -- messages ----------------------------------------------------------------------------

    def error(self, contains: str) -> str:
        loc = self.page.locator("#error")
        loc.wait_for(state="visible")
        self.page.wait_for_function(
            "s => document.getElementById('error').textContent.includes(s)", arg=contains
        )
        return loc.text_content() or ""

    def notice(self, contains: str) -> str:
        try:
            self.page.wait_for_function(
                "s => !document.getElementById('notice').hidden && "
                "document.getElementById('notice').textContent.includes(s)",
                arg=contains,
                timeout=30_000,
            )
        except PlaywrightTimeout:
            shown = self.page.evaluate(
                "() => ['notice', 'error'].map(id => document.getElementById(id))"
                ".map(e => `${e.id}${e.hidden ? ' (hidden)' : ''}: ${e.textContent}`)"
            )
            raise AssertionError(f"no notice with {contains!r}; the page shows {shown}") from None
        return self.page.locator("#notice").text_content() or ""

    # -- vault -------------------------------------------------------------------------------

    def create_vault(self, passphrase: str) -> None:
        self.visible("create")
        self.page.locator("#view-create").get_by_label("Passphrase", exact=True).fill(passphrase)
        self.page.locator("#view-create").get_by_label("Confirm passphrase").fill(passphrase)
        self.page.get_by_role("button", name="Create vault").click()
        self.visible("items")

    def unlock(self, passphrase: str) -> None:
        self.visible("unlock")
        self.page.locator("#unlock-pass").fill(passphrase)
        self.page.locator("#unlock-pass").press("Enter")

    def confirm_vault(self) -> None:
        """A browser profile new to this vault (docs/web.md, "A browser new to the vault"):
        the banner names the last save; say it is the current vault, as the person would
        after checking it. Until then the page grants, reseals and approves nothing."""
        banner = self.page.locator("#fresh")
        banner.wait_for(state="visible", timeout=30_000)
        banner.get_by_role("button", name="This is my current vault").click()
        banner.wait_for(state="hidden")

    def lock(self) -> None:
        self.page.get_by_role("button", name="Lock").click()
        self.visible("unlock")

    def add_item(
        self,
        name: str,
        secret: str,
        *,
        kind: str = "github",
        url: str = "https://github.com",
        username: str = "ada",
        scopes: str = "",
        expires: str = "",
        note: str = "",
    ) -> None:
        p = self.page
        p.get_by_role("button", name="Add a credential").click()
        p.locator("#item-form").get_by_label("Name", exact=True).fill(name)
        p.locator("#item-form").get_by_label("Kind").select_option(kind)
        p.locator("#item-form").get_by_label("Host or endpoint URL").fill(url)
        p.locator("#item-form").get_by_label("Username").fill(username)
        p.locator("#item-form").get_by_label("Token").fill(secret)
        form = p.locator("#item-form")
        form.get_by_label("Scopes (space or comma separated, optional)").fill(scopes)
        if expires:
            p.locator("#item-form").get_by_label("Expires (optional)").fill(expires)
        p.locator("#item-form").get_by_label("Note (optional)").fill(note)
        p.get_by_role("button", name="Save", exact=True).click()
        self.notice(f"Added “{name}”")
        self.row(name).wait_for()

    def row(self, name: str) -> Any:
        return self.page.locator(f'#items-body [data-item="{name}"]')

    def item_menu(self, name: str, action: str) -> None:
        """A credential's "⋯" menu, then one of its actions ("Details", "Show token",
        "Edit", "Remove"), as a person clicks them."""
        row = self.row(name)
        row.get_by_role("button", name=f"More actions for {name}").click()
        label = {"Details": f"Details of {name}", "Show token": f"Show token of {name}"}.get(
            action, f"{action} {name}"
        )
        row.get_by_role("menuitem", name=label, exact=True).click()

    def confirm_dialog(self, button: str) -> None:
        """The in-app confirmation (never the browser's confirm()): press its button."""
        dialog = self.page.locator("#confirm-dialog")
        dialog.wait_for(state="visible")
        dialog.get_by_role("button", name=button, exact=True).click()
        dialog.wait_for(state="hidden")

    def item_names(self) -> list[str]:
        names = self.page.locator("#items-body [data-item]").evaluate_all(
            "rows => rows.map(r => r.dataset.item)"
        )
        return [str(name) for name in names]

    def go(self, section: str) -> None:
        button = self.page.locator("#nav").get_by_role("button", name=section)
        if not button.is_visible():  # a narrow screen: the sections are behind "Menu"
            self.page.get_by_role("button", name="Menu").click()
        button.click()

    def csp_violations(self) -> list[str]:
        found: list[str] = self.page.evaluate("window.__cspViolations || []")
        return found + self.rec.csp_console


def new_app(browser: Browser, server: ServerProcess, idp: str, **options: Any) -> App:
    clock_time = options.pop("clock_time", None)
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"], **options)
    return attach_app(context, server, idp, clock_time=clock_time)


def attach_app(
    context: BrowserContext, server: ServerProcess, idp: str, *, clock_time: Any = None
) -> App:
    """Instrument a fresh context (recording requests, CSP reports, console errors)."""
    # The IdP's page links a CDN stylesheet; fail it fast rather than wait on DNS.
    context.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
    context.add_init_script(_RECORD_CSP)
    # A controllable clock for the idle-lock test; it runs at real speed until told to
    # jump, from clock_time if given (fixed dates for screenshots).
    if clock_time is None:
        context.clock.install()
    else:
        context.clock.install(time=clock_time)
    page = context.pages[0] if context.pages else context.new_page()
    rec = Recorder(_origin(server.url), _origin(idp))

    def on_request(request: Any) -> None:
        try:
            frame = request.frame.url
        except Exception:  # a worker's request has no frame
            frame = "worker"
        rec.requests.append((request.url, frame))
        body = request.post_data_buffer
        if body:
            rec.bodies.append(body)

    def on_console(msg: Any) -> None:
        text = msg.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            rec.csp_console.append(text)
        if msg.type == "error":
            rec.console_errors.append(text)

    context.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: rec.page_errors.append(str(exc)))
    app = App(page, context, server, idp, rec)

    def on_dialog(dialog: Any) -> None:  # confirm() -> OK; prompt() -> app.prompt_answer
        if dialog.type == "prompt":
            dialog.accept(app.prompt_answer or dialog.default_value)
        else:
            dialog.accept()

    page.on("dialog", on_dialog)
    return app


@pytest.fixture(scope="module")
def app(browser: Browser, server: ServerProcess, idp: str) -> Iterator[App]:
    a = new_app(browser, server, idp)
    yield a
    a.context.close()


# -- the server's side, as a machine or a second device would see it ---------------------------


def api_sign_in(server: ServerProcess, idp: str, sub: str) -> tuple[str, DpopAuth]:
    """Sign in over plain HTTP as another browser would, with its own DPoP key:
    (account_id, ``auth=`` for its access token)."""
    httpx.put(f"{idp}/users/{sub}", json={"email": f"{sub}@example.test", "name": sub})
    key = DpopKey("ES256")
    with httpx.Client(base_url=server.url, follow_redirects=False) as client:
        r = client.post("/auth/login", auth=key.auth())
        r = httpx.post(r.json()["url"], data={"sub": sub}, follow_redirects=False)
        client.get(r.headers["location"])
        r = client.post(
            "/auth/refresh",
            headers={"X-CSRF-Token": client.cookies["zkv_csrf"]},
            auth=key.auth(),
        )
        r.raise_for_status()
        return r.json()["account_id"], key.auth(r.json()["access_token"])


def b64e(data: bytes) -> str:
    return b64url_encode(data)


def b64d(text: str) -> bytes:
    return b64url_decode(text)


def request_pairing(
    server: ServerProcess,
    kind: str,
    name: str,
    public_key: bytes | None = None,
    clock_offset: float = 0.0,
) -> dict[str, Any]:
    """A pairing asked for as a machine or runner would, with its own DPoP key (kept in
    the answer as "dpop": polling and every later request must prove it; its proofs are
    made ``clock_offset`` seconds from this process's clock, for a server on a faked one)."""
    key = public_key or secrets.token_bytes(32)
    dpop = DpopKey(clock_offset=clock_offset)
    r = httpx.post(
        f"{server.url}/api/pairings",
        json={"kind": kind, "name": name, "public_key": b64e(key)},
        auth=dpop.auth(),
    )
    assert r.status_code == 201, r.text
    return {**r.json(), "dpop": dpop}


def poll(server: ServerProcess, pairing: dict[str, Any]) -> dict[str, Any]:
    """The poll's answer, with the pairing's key as "dpop" (``got["dpop"].auth(token)``)."""
    r = httpx.post(
        f"{server.url}/api/pairings/poll",
        json={"pairing_id": pairing["pairing_id"], "poll_secret": pairing["poll_secret"]},
        auth=pairing["dpop"].auth(),
    )
    assert r.status_code == 200, r.text
    return {**r.json(), "dpop": pairing["dpop"]}


def account_id_of(server: ServerProcess, sub: str) -> uuid.UUID:
    with sqlite3.connect(server.database) as db:
        row = db.execute("SELECT id FROM accounts WHERE subject = ?", (sub,)).fetchone()
    assert row is not None, f"no account for {sub}"
    return uuid.UUID(str(row[0]))


def server_vault(server: ServerProcess, auth: DpopAuth) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/api/vault", auth=auth)
    assert r.status_code == 200, r.text
    return dict(r.json())


def server_put_vault(
    server: ServerProcess, auth: DpopAuth, base: int, blob: bytes
) -> httpx.Response:
    """PUT /api/vault as another client (the CLI, or a thief holding a stolen token and
    the key it is bound to)."""
    return httpx.put(
        f"{server.url}/api/vault",
        auth=auth,
        json={"base_revision": base, "blob": b64url_encode(blob)},
    )


_TOP_BAR_JS = """() => {
  const box = (e) => e.getBoundingClientRect();
  const bar = box(document.querySelector('.topbar'));
  const row = [...document.querySelectorAll('.topbar > .brand, .topbar > .actions')].map(box);
  const rowBottom = Math.max(...row.map((r) => r.bottom));
  const who = document.getElementById('who');
  const own = !who.hidden && box(who).top >= rowBottom - 1;
  return {bar: bar.height, row: rowBottom - bar.top, line: own ? box(who).height : 0};
}"""


def top_bar(page: Page) -> dict[str, float]:
    """The top bar's height (``bar``), that of its row of name and buttons (``row``) and of
    the signed-in line when it stands on a line of its own under them (``line``: on a
    phone; 0 on a desktop, where it sits in the row)."""
    return dict(page.evaluate(_TOP_BAR_JS))


def assert_top_bar_does_not_wrap(page: Page) -> None:
    """One row of name and buttons, and on a phone one line saying who is signed in:
    nothing in the bar wraps onto a further line."""
    got = top_bar(page)
    assert got["row"] <= 60 and got["line"] <= 33 and got["bar"] <= 60 + got["line"], got
