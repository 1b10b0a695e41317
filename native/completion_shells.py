"""``zkvault completion zsh`` and ``zkvault completion fish``: static completion scripts.

Like the bash one (native.completion): commands, options, kinds, and item names from the
running agent (``zkvault list --json``) for the commands that name an item; nothing when
the vault is locked.
"""

from __future__ import annotations

# One Python line turns `zkvault list --json` into names, one a line (the bash script's).
_NAMES = (
    "zkvault list --json 2>/dev/null | python3 -c 'import json, sys\n"
    'print("\\n".join(i["name"] for i in json.load(sys.stdin).get("items", [])))'
    "' 2>/dev/null"
)
_COMMANDS = (
    "connect adopt import unlock lock status list get add edit rename rm rotate run scan "
    "doctor git-credential git ssh-agent runner audit ssh web completion identity contacts team"
)
_TEAM_ACTIONS = (
    "create list members invite add remove role rotate leave invitations accept decline withdraw"
    " audit grant grants ungrant"
)
_ROLES = "reader writer admin owner"
_KINDS = "github github-enterprise gitlab bitbucket git generic ssh-key"
_FIELDS = "secret username url name kind note scopes expires id public-key fingerprint"
_KEY_TYPES = "ed25519 rsa ecdsa"  # add --kind ssh-key --generate --type
_EXPORTS = "bitwarden-json 1password-csv"  # import --from
_ITEM = "--url --username --scope --expires --note"
_OPTIONS = {
    "get": "--field --vault --json",
    "add": f"--kind {_ITEM} --secret-stdin --generate --type --import --passphrase-stdin "
    "--confirm-each-use --vault --json",
    "edit": f"--kind {_ITEM} --secret --secret-stdin --vault --json",
    "rename": "--vault --json",
    "rm": "--yes --vault --json",
    "rotate": "--secret-stdin --vault --json",
    "unlock": "--passphrase-stdin --idle-timeout --max-lifetime --strict --confirm --json",
    "connect": "--server --name --clean --timeout --json",
    "import": "--home --from --dry-run --remove-plaintext --json",
    "adopt": "--account-id --json",
    "scan": "--home --json",
    "run": "--env --no-mask --mask-known --vault --",
    "status": "--json",
    "list": "--vault --json",
    "identity": "--json",
    "contacts": "list verify",
    "team": _TEAM_ACTIONS,
    "doctor": "--json",
    "git-credential": "get store erase",
    "git": "setup --global --local --signing --email --json",
    "runner": "enroll --name --server --timeout --owner-fingerprint --json",
    "audit": "verify --export --json",
    "ssh": "--allow --allow-host --ttl --confirm --session-key --authorize --",
    "web": "verify --fresh --json",
    "completion": "bash zsh fish",
}

_ZSH_CASES = "\n".join(
    f"        {name}) opts=({words}) ;;" for name, words in sorted(_OPTIONS.items())
)

ZSH = f"""#compdef zkvault
# zkvault zsh completion: eval "$(zkvault completion zsh)" in ~/.zshrc, after compinit
_zkvault_items() {{
    local -a names
    names=("${{(@f)$({_NAMES})}}")
    names=(${{names:#}})
    (( ${{#names}} )) && compadd -a names
}}
_zkvault() {{
    local at=2 prev=${{words[CURRENT-1]}} cur=${{words[CURRENT]}}
    local -a opts
    if [[ $prev == --credential-file || $prev == --export || $prev == --import ]]; then
        _files
        return
    fi
    [[ ${{words[2]}} == --credential-file ]] && at=4
    if (( CURRENT == at )); then
        compadd -- {_COMMANDS}
        (( at == 2 )) && compadd -- --credential-file
        return
    fi
    local cmd=${{words[at]}}
    if [[ $prev == --kind ]]; then
        compadd -- {_KINDS}
        return
    fi
    if [[ $cmd == add && $prev == --type ]]; then
        compadd -- {_KEY_TYPES}
        return
    fi
    if [[ $cmd == import && $prev == --from ]]; then
        compadd -- {_EXPORTS}
        return
    fi
    if [[ ($cmd == import || $cmd == adopt || $cmd == scan) && $cur != -* ]]; then
        _files
        return
    fi
    if [[ $cmd == team && $prev == --role ]]; then
        compadd -- {_ROLES}
        return
    fi
    if [[ ($cmd == team || $cmd == contacts) && CURRENT -gt at+1 ]]; then
        compadd -- --role --safety-number --tofu --json
        return
    fi
    if [[ $cmd == get && $prev == --field ]]; then
        compadd -- {_FIELDS}
        return
    fi
    case $cmd in
{_ZSH_CASES}
    esac
    if [[ $cur != -* ]] && (( CURRENT == at + 1 )); then
        case $cmd in
            get|edit|rename|rm|rotate) _zkvault_items; return ;;
        esac
    fi
    compadd -- $opts
}}
compdef _zkvault zkvault
"""

_FISH_OPTIONS = "\n".join(
    f"complete -c zkvault -n '__fish_seen_subcommand_from {name}' -a '{words}'"
    if not words.startswith("-")
    else "\n".join(
        f"complete -c zkvault -n '__fish_seen_subcommand_from {name}' -l {word[2:]}"
        for word in words.split()
        if word.startswith("--")
        and len(word) > 2
        and word not in ("--kind", "--field", "--type", "--import", "--from")
    )
    for name, words in sorted(_OPTIONS.items())
    if name != "completion"
)

FISH = f"""# zkvault fish completion: zkvault completion fish | source
# (or save it as ~/.config/fish/completions/zkvault.fish)
function __zkvault_items
    {_NAMES}
end
function __zkvault_wants_item
    set -l words (commandline -opc)
    test (count $words) -eq 2; and contains -- $words[2] get edit rename rm rotate
end
complete -c zkvault -f
complete -c zkvault -n __fish_use_subcommand -a '{_COMMANDS}'
complete -c zkvault -n __fish_use_subcommand -l credential-file -r -F
complete -c zkvault -n __zkvault_wants_item -a '(__zkvault_items)'
complete -c zkvault -n '__fish_seen_subcommand_from add edit' -l kind -x -a '{_KINDS}'
complete -c zkvault -n '__fish_seen_subcommand_from get' -l field -x -a '{_FIELDS}'
complete -c zkvault -n '__fish_seen_subcommand_from add' -l type -x -a '{_KEY_TYPES}'
complete -c zkvault -n '__fish_seen_subcommand_from add' -l import -r -F
complete -c zkvault -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'
complete -c zkvault -n '__fish_seen_subcommand_from import' -l from -x -a '{_EXPORTS}'
complete -c zkvault -n '__fish_seen_subcommand_from import adopt scan' -F
complete -c zkvault -n '__fish_seen_subcommand_from team' -l role -x -a '{_ROLES}'
complete -c zkvault -n '__fish_seen_subcommand_from team contacts' -l safety-number -x
complete -c zkvault -n '__fish_seen_subcommand_from team contacts' -l tofu
complete -c zkvault -n '__fish_seen_subcommand_from team contacts' -l json
{_FISH_OPTIONS}
"""

SCRIPTS = {"zsh": ZSH, "fish": FISH}
