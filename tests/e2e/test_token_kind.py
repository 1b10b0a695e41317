"""The add/edit form and token formats (docs/tokens.md): a pasted token of a published
format picks the kind when the person has not chosen one, a chosen kind that disagrees
gets a warning, an edited item's kind is never changed, and the page shows no token. The
worker recognises the token (op classify_token); the page never parses it."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.e2e.conftest import STRONG, App
from tests.unit.token_format_checks import samples

SUB = "tokens-kind"
TOKENS = dict(samples(21))
HINT = "document.getElementById('item-format-hint').textContent"


def _hint_contains(p: Page, text: str) -> str:
    p.wait_for_function(f"s => {HINT}.includes(s)", arg=text)
    return str(p.evaluate(f"() => {HINT}"))


def test_a_pasted_token_picks_the_kind_and_a_chosen_kind_is_kept(app: App) -> None:
    app.open("/")
    app.sign_in(SUB, name="Kay Kind")
    app.wait_engine()
    app.create_vault(STRONG)
    p = app.page
    form = p.locator("#item-form")
    kind = form.get_by_label("Kind")
    url = form.get_by_label("Host or endpoint URL")
    token = form.get_by_label("Token")

    p.get_by_role("button", name="Add a credential").click()
    assert kind.input_value() == "github"  # preselected, not chosen
    token.fill(TOKENS["gitlab-pat"])  # as a paste does: one input event
    hint = _hint_contains(p, "Kind set to GitLab")
    assert hint == (
        "Recognised: GitLab personal, project, group or impersonation token. Kind set to GitLab."
    )
    assert kind.input_value() == "gitlab"
    assert url.input_value() == "https://gitlab.com"  # the default host followed the kind
    # Another token: the kind follows again (the person still has not chosen one).
    token.fill(TOKENS["npm-token"])
    _hint_contains(p, "Kind set to Other secret")
    assert kind.input_value() == "generic"
    assert url.input_value() == ""

    # Once the person chooses a kind, a token never changes it; a disagreeing one warns.
    kind.select_option("bitbucket")
    token.fill(TOKENS["github-fine-grained-pat"])
    hint = _hint_contains(p, "Check the kind.")
    assert hint == (
        "This looks like a GitHub fine-grained personal access token, which is usually"
        " stored as kind github, not bitbucket. Check the kind."
    )
    assert kind.input_value() == "bitbucket"
    token.fill(TOKENS["bitbucket-app-password"])
    _hint_contains(p, "Recognised: Bitbucket app password.")
    # A secret of no known format: no guess, and a hint only where the kind has a format.
    kind.select_option("github")
    token.fill("correct-horse-battery")
    _hint_contains(p, "This does not look like a GitHub token")
    assert kind.input_value() == "github"
    for value in TOKENS.values():
        assert value not in p.content()  # the hints never echo a token

    # Saved as GitLab; editing it later never changes its kind, even for another token.
    kind.select_option("gitlab")
    form.get_by_label("Name", exact=True).fill("gl-ci")
    token.fill(TOKENS["gitlab-deploy-token"])
    _hint_contains(p, "Recognised: GitLab deploy token.")
    p.get_by_role("button", name="Save", exact=True).click()
    app.notice("Added “gl-ci”")
    app.item_menu("gl-ci", "Edit")
    token.fill(TOKENS["github-classic-pat"])
    _hint_contains(p, "not gitlab. Check the kind.")
    assert kind.input_value() == "gitlab"
    p.keyboard.press("Escape")
    form.wait_for(state="hidden")
    assert app.csp_violations() == []
