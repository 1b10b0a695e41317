"""One Chromium page driven with Playwright's async API on a private event loop thread,
with the web app's flows as the person performs them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import httpx
from playwright.async_api import Page, async_playwright

T = TypeVar("T")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class BrowserThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.page: Page = self.run(self._start())

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 180) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> Page:
        self.pw = await async_playwright().start()
        self.browser = await self.pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        context = await self.browser.new_context()
        # The IdP's page links a CDN stylesheet; fail it fast rather than wait on DNS.
        await context.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
        return await context.new_page()

    def close(self) -> None:
        async def stop() -> None:
            await self.browser.close()
            await self.pw.stop()

        try:
            self.run(stop(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


async def visible(page: Page, view: str) -> None:
    await page.wait_for_selector(f"#view-{view}:not([hidden])", timeout=60_000)


async def notice(page: Page, text: str) -> None:
    await page.wait_for_function(
        "s => !document.getElementById('notice').hidden && "
        "document.getElementById('notice').textContent.includes(s)",
        arg=text,
        timeout=60_000,
    )


async def sign_in_and_create(
    page: Page, server_url: str, idp: str, sub: str, passphrase: str
) -> None:
    httpx.put(
        f"{idp}/users/{sub}", json={"email": f"{sub}@example.test", "name": sub}
    ).raise_for_status()
    await page.goto(server_url + "/")
    await page.get_by_role("link", name="Sign in").click()
    await page.wait_for_url(f"{idp}/**")
    await page.fill("input[name=sub]", sub)
    await page.get_by_role("button", name="Authorize", exact=True).click()
    await page.wait_for_url(f"{server_url}/**")
    await page.wait_for_selector("#engine[data-ready]", state="attached", timeout=120_000)
    await visible(page, "create")
    create = page.locator("#view-create")
    await create.get_by_label("Passphrase", exact=True).fill(passphrase)
    await create.get_by_label("Confirm passphrase").fill(passphrase)
    await page.get_by_role("button", name="Create vault").click()
    await visible(page, "items")


async def add_item(
    page: Page, name: str, secret: str, kind: str, url: str, username: str = ""
) -> None:
    await page.get_by_role("button", name="Add a credential").click()
    form = page.locator("#item-form")
    await form.get_by_label("Name", exact=True).fill(name)
    await form.get_by_label("Kind").select_option(kind)
    await form.get_by_label("Host or endpoint URL").fill(url)
    await form.get_by_label("Username").fill(username)
    await form.get_by_label("Token").fill(secret)
    await page.get_by_role("button", name="Save", exact=True).click()
    await notice(page, f"Added “{name}”")


async def approve_link(page: Page, url: str, passphrase: str) -> str:
    """Open the CLI's one-time link as a fresh page load, unlock, approve; returns the
    fingerprint the page showed."""
    await page.goto("about:blank")
    await page.goto(url)
    await visible(page, "unlock")
    await page.locator("#unlock-pass").fill(passphrase)
    await page.locator("#unlock-pass").press("Enter")
    await page.wait_for_selector("#pair-details:not([hidden])", timeout=60_000)
    shown = await page.locator("#pair-fingerprint").text_content() or ""
    # The link carried the key's fingerprint: the page checked it, nothing to compare.
    assert await page.locator("#pair-check").get_attribute("data-verified") == "link"
    await page.get_by_role("button", name="Approve", exact=True).click()
    await notice(page, "Approved")
    return shown


async def approve_code(page: Page, typed: str) -> str:
    """Type a pairing code (as a person might, spaces and all) in the unlocked app and
    approve; returns the fingerprint the page showed."""
    await page.locator("#nav").get_by_role("button", name="Approve a pairing").click()
    await page.locator("#pair-code").fill(typed)
    await page.locator("#pair-code").press("Enter")
    await page.wait_for_selector("#pair-details:not([hidden])", timeout=60_000)
    shown = await page.locator("#pair-fingerprint").text_content() or ""
    await page.get_by_role("button", name="Approve", exact=True).click()
    await notice(page, "Approved")
    return shown


async def owner_fingerprint(page: Page) -> str:
    """The owner's grant-key fingerprint as the (unlocked) page shows it, which a runner
    enrolled without a terminal is given with --owner-fingerprint."""
    await page.locator("#nav").get_by_role("button", name="Machines & runners").click()
    shown = page.locator("#owner-fingerprint")
    await page.wait_for_function(
        "() => /^[A-Z2-7]{4}(-[A-Z2-7]{4}){5}$/"
        ".test(document.querySelector('#owner-fingerprint').textContent)"
    )
    return await shown.text_content() or ""


async def grant(page: Page, runner: str, items: list[str]) -> None:
    await page.locator("#nav").get_by_role("button", name="Machines & runners").click()
    await page.get_by_role("button", name=f"Grant items to {runner}").click()
    for name in items:
        await page.locator("#grant-items").get_by_label(name).check()
    await page.get_by_role("button", name="Save grant").click()
    row = page.locator(f'#runners-body [data-runner="{runner}"]')
    await row.get_by_text(items[-1]).wait_for(timeout=60_000)


async def revoke(page: Page, name: str) -> None:
    await page.locator("#nav").get_by_role("button", name="Machines & runners").click()
    await page.get_by_role("button", name=f"Revoke {name}").click()
    dialog = page.locator("#confirm-dialog")  # the in-app confirmation, never confirm()
    await dialog.get_by_role("button", name="Revoke", exact=True).click()
    await dialog.wait_for(state="hidden")
    await notice(page, "Revoked")
