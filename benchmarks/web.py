"""Web app timings in headless Chromium against the real server and IdP processes.

    .venv/bin/python benchmarks/web.py [--runs 5] [--web-dir OTHER/web/dist]
                                       [--baseline PREVIOUS/web/dist]
                                       [--also LABEL=ANOTHER/web/dist ...]

Measures, per run, in a fresh browser context (empty HTTP cache) and then after a reload
in the same context (warm cache):
  ready to unlock   navigation start -> the unlock form is shown AND the vault worker
                    (Pyodide + vault_core + libsodium.js) is ready
  unlock            passphrase submitted (1 s after the form appeared, as if typed)
                    -> credentials shown
  Argon2id          derive_kek at the default parameters inside the worker (median of
                    3 per page: the unlock it is compared with runs it once)
Prints medians and the targets (docs/architecture.md). The marks come from
performance.mark() calls in web/engine.js and web/app.js. With --baseline, a second server
serves that build (say, the previous release's) and the runs alternate between the two in
one browser, so both see the same machine at the same time (each round starting with the
next build); a table of ratios follows: of the medians, and per round (the median of
each round's ratio and the quartiles, how far the machine's load moved it).
--also adds more builds to the same rotation (say, this branch before a change), each
compared with the baseline too. Per run, stderr shows when the worker started, when the
unlock form was shown and when the engine was ready (ms after navigation start), and
what the page itself (not the worker) had fetched before the form was shown.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright  # noqa: E402

from tests.support.processes import start_idp, start_server, stop  # noqa: E402

PASSPHRASE = "orbit velvet crater mango lantern"
TYPING_MS = 1000
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

READY_JS = """() => new Promise(resolve => {
  const check = () => {
    const m = n => performance.getEntriesByName(n)[0];
    if (m('zkv-engine-ready') && m('zkv-unlock-view')) {
      const view = m('zkv-unlock-view').startTime;
      const early = performance.getEntriesByType('resource').filter(r => r.startTime < view);
      resolve({engine: m('zkv-engine-ready').startTime, view,
               worker: m('zkv-worker-start').startTime, files: early.length,
               kb: early.reduce((n, r) => n + r.decodedBodySize, 0) / 1024,
               ready: Math.max(m('zkv-engine-ready').startTime, view)});
    } else setTimeout(check, 5);
  };
  check();
})"""


def sign_in(page: Page, url: str, idp: str, sub: str) -> None:
    page.goto(url + "/")
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_url(f"{idp}/**")
    page.fill("input[name=sub]", sub)
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.wait_for_url(f"{url}/**")


def create_vault(browser: Browser, url: str, idp: str, sub: str) -> None:
    import httpx

    httpx.put(f"{idp}/users/{sub}", json={"email": f"{sub}@example.test", "name": sub})
    context = browser.new_context()
    context.route("https://cdn.jsdelivr.net/**", lambda r: r.abort())
    page = context.new_page()
    sign_in(page, url, idp, sub)
    page.wait_for_selector("#view-create:not([hidden])", timeout=60_000)
    page.locator("#create-pass").fill(PASSPHRASE)
    page.locator("#create-confirm").fill(PASSPHRASE)
    page.get_by_role("button", name="Create vault").click()
    page.wait_for_selector("#view-items:not([hidden])", timeout=60_000)
    for i in range(10):
        page.get_by_role("button", name="Add a credential").click()
        page.locator("#item-name").fill(f"token-{i}")
        page.locator("#item-secret").fill(f"ghp_benchmark_token_{i:04d}_abcdefghijklmnop")
        page.get_by_role("button", name="Save", exact=True).click()
        page.wait_for_function(
            "n => document.getElementById('notice').textContent.includes(n)",
            arg=f"Added “token-{i}”",
        )
    context.close()


def fresh_session(context: BrowserContext, url: str, idp: str, sub: str) -> Page:
    """A new browser session signed in through the page (the session is bound to this
    context's own DPoP key, so cookies made elsewhere would not do), then the HTTP cache
    and Cache Storage (the Pyodide snapshot) emptied, so the measured load is a cold one.
    The cookies and the key in IndexedDB stay."""
    page = context.new_page()
    sign_in(page, url, idp, sub)
    page.wait_for_selector("#view-unlock:not([hidden])", timeout=60_000)
    page.goto("about:blank")
    cdp = context.new_cdp_session(page)
    cdp.send("Network.clearBrowserCache")
    cdp.send("Storage.clearDataForOrigin", {"origin": url, "storageTypes": "cache_storage"})
    return page


def measure(page: Page, url: str) -> dict[str, float]:
    page.goto(url + "/")
    marks: dict[str, float] = page.evaluate(READY_JS)
    print(
        f"   worker started {marks['worker']:.0f} ms, unlock form {marks['view']:.0f} ms, "
        f"engine ready {marks['engine']:.0f} ms; the page fetched {marks['files']:.0f} "
        f"files ({marks['kb']:.0f} KB decoded) before the form",
        file=sys.stderr,
    )
    # A person types for a second or more after the form appears; the worker uses that
    # time to warm Argon2id up (see web/worker.js).
    page.wait_for_timeout(TYPING_MS)
    page.locator("#unlock-pass").fill(PASSPHRASE)
    page.locator("#unlock-pass").press("Enter")
    page.wait_for_selector("#view-items:not([hidden])", timeout=60_000)
    page.locator("#items-body [data-item]").first.wait_for()
    unlock, in_worker, vault_open = page.evaluate(r"""async () => {
      const m = n => performance.getEntriesByName(n)[0].startTime;
      const core = performance.getEntriesByType('resource').map(r => r.name)
        .find(n => /\/core\.[0-9a-f]+\.js$/.test(n));
      const { state } = await import(core);
      return [m('zkv-unlocked') - m('zkv-unlock-submit'),
              performance.getEntriesByName('zkv-op-unlock')[0].detail, state.kdfMs];
    }""")
    print(
        f"   unlock {unlock:.0f} ms: in the worker {in_worker} ms, Vault.open {vault_open} ms",
        file=sys.stderr,
    )
    kdf, stages = page.evaluate("""async () => {
      const engine = await import(document.querySelector('link[rel=modulepreload]').href);
      const timings = await new Promise(r => engine.onEngineEvent(s => r(s.timings)));
      const start = performance.getEntriesByName('zkv-worker-start')[0]?.startTime || 0;
      return [(await engine.ask('kdf_benchmark', {runs: 3})).ms, {...timings, start}];
    }""")
    print("   worker stages (ms since worker start):", stages, file=sys.stderr)
    return {
        "ready": marks["ready"],
        "engine": marks["engine"],
        "unlock": float(unlock),
        "in_worker": float(in_worker),
        "kdf": float(statistics.median(kdf)),
        "kdf_best": float(min(kdf)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--web-dir",
        type=Path,
        help="serve these built assets instead of building web/ (to compare two versions "
        "side by side: build the other with `tools/build_web.py --out DIR` in its checkout)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="built assets to measure in the same run, alternating with this build",
    )
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="another build to alternate with (repeatable); needs --baseline",
    )
    args = parser.parse_args(argv)
    extra = {}
    if args.web_dir:
        extra["ZKVAULT_WEB_DIR"] = str(args.web_dir.resolve())
    else:
        subprocess.run(
            [sys.executable, str(ROOT / "tools" / "build_web.py")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    builds = {"this build": extra}
    for also in args.also:
        label, _, path = also.partition("=")
        if not path or not args.baseline or label in ("this build", "baseline"):
            parser.error("--also takes LABEL=DIR, a new label, and needs --baseline")
        builds[label] = {"ZKVAULT_WEB_DIR": str(Path(path).resolve())}
    if args.baseline:
        builds["baseline"] = {"ZKVAULT_WEB_DIR": str(args.baseline.resolve())}
    idp, idp_proc = start_idp()
    servers = {
        name: start_server(
            idp,
            Path(tempfile.mkdtemp(prefix="zkv-bench-")),
            None,
            ZKVAULT_LOG_LEVEL="warning",
            **env,
        )
        for name, env in builds.items()
    }
    cold: dict[str, list[dict[str, float]]] = {name: [] for name in builds}
    warm: dict[str, list[dict[str, float]]] = {name: [] for name in builds}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for server in servers.values():
                create_vault(browser, server.url, idp, "bench")
            names = list(servers)
            for i in range(args.runs):
                # Each round starts with the next build, so none is always first after
                # the previous round's last one.
                for name in names[i % len(names) :] + names[: i % len(names)]:
                    server = servers[name]
                    context = browser.new_context()
                    page = fresh_session(context, server.url, idp, "bench")
                    print(f"run {i + 1}/{args.runs} ({name})", file=sys.stderr, flush=True)
                    cold[name].append(measure(page, server.url))
                    warm[name].append(measure(page, server.url))
                    context.close()
            browser.close()
    finally:
        for server in servers.values():
            stop(server.proc)
        stop(idp_proc)
    for name in builds:
        if len(builds) > 1:
            print(f"\n{name}")
        report(cold[name], warm[name])
    if args.baseline:
        compare(cold, warm)
    return 0


def compare(
    cold: dict[str, list[dict[str, float]]], warm: dict[str, list[dict[str, float]]]
) -> None:
    """Each build's medians over the baseline's, from the same alternating runs; then the
    same per round (each run over the baseline's run of that round, which saw the machine's
    load of the same minute): their median and the middle half of them (quartiles), which
    show how far the load moved the ratio."""
    both = {name: cold[name] + warm[name] for name in cold}
    for name in cold:
        if name == "baseline":
            continue
        print(f"\n{name + ' / baseline':44} {'medians':>8} {'per round':>10} {'middle half':>12}")
        for label, rows, key in (
            ("empty cache -> ready to unlock", cold, "ready"),
            ("warm cache -> ready to unlock", warm, "ready"),
            ("submit passphrase -> credentials shown", both, "unlock"),
        ):
            ratio = _median(rows[name], key) / _median(rows["baseline"], key)
            paired = [a[key] / b[key] for a, b in zip(rows[name], rows["baseline"], strict=True)]
            low, high = _quartiles(paired)
            spread = f"{low:.2f}-{high:.2f}"
            print(f"{label:44} {ratio:8.2f} {statistics.median(paired):10.2f} {spread:>12}")


def _quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def report(cold: list[dict[str, Any]], warm: list[dict[str, Any]]) -> None:
    kdf = _median(cold + warm, "kdf")
    unlock = _median(cold + warm, "unlock")
    rows = [
        ("empty cache -> ready to unlock", _median(cold, "ready"), "<= 2000 ms (aim 1200)"),
        ("  of which vault engine ready", _median(cold, "engine"), ""),
        ("warm cache -> ready to unlock", _median(warm, "ready"), "<= 800 ms (aim 500)"),
        ("  of which vault engine ready", _median(warm, "engine"), ""),
        ("submit passphrase -> credentials shown", unlock, f"<= KDF + 100 = {kdf + 100:.0f} ms"),
        ("  of which inside the worker", _median(cold + warm, "in_worker"), ""),
        ("Argon2id in the worker (64 MiB, t=3, p=1)", kdf, "median of 3 per run"),
        ("  best run", min(r["kdf_best"] for r in cold + warm), ""),
    ]
    print(f"{'measurement (median of ' + str(len(cold)) + ' runs)':44} {'ms':>8}  target")
    for name, value, target in rows:
        print(f"{name:44} {value:8.0f}  {target}")


if __name__ == "__main__":
    sys.exit(main())
