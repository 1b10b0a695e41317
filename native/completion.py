"""``zkvault completion bash``: a static completion script (argparse offers none cheaply);
zsh and fish: native.completion_shells."""

from __future__ import annotations

BASH = r"""# zkvault bash completion: eval "$(zkvault completion bash)"
_zkvault_items() {
    zkvault list --json 2>/dev/null | python3 -c '
import json, sys
print("\n".join(i["name"] for i in json.load(sys.stdin).get("items", [])))' 2>/dev/null
}
_zkvault_edit_options() {
    local item="--url --username --scope --expires --note"
    case "$1" in
        add) echo "--kind $item --secret-stdin --generate --type --import --passphrase-stdin"\
            "--confirm-each-use --vault --json" ;;
        edit) echo "--kind $item --secret --secret-stdin --vault --json" ;;
        rm) echo "--yes --vault --json" ;;
        rotate) echo "--secret-stdin --vault --json" ;;
        *) echo "--vault --json" ;;
    esac
}
_zkvault() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} words at=1
    if [ "$prev" = "--credential-file" ]; then  # a runner's credential, given as a file
        COMPREPLY=($(compgen -f -- "$cur"))
        return
    fi
    [ "${COMP_WORDS[1]}" = "--credential-file" ] && at=3
    if [ "$COMP_CWORD" -eq "$at" ]; then
        words="connect adopt import unlock lock status list get add edit rename rm rotate run scan"
        words="$words doctor"
        words="$words git-credential git ssh-agent runner audit ssh web completion"
        words="$words identity contacts team"
        [ "$at" -eq 1 ] && words="$words --credential-file"
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
        return
    fi
    case "${COMP_WORDS[at]}" in
        get)
            if [ "$prev" = "--field" ]; then
                words="secret username url name kind note scopes expires id public-key fingerprint"
            elif [[ "$cur" == -* ]]; then
                words="--field --vault --json"
            else
                local IFS=$'\n'
                COMPREPLY=($(compgen -W "$(_zkvault_items)" -- "$cur"))
                return
            fi ;;
        add|edit|rename|rm|rotate)
            if [ "$prev" = "--kind" ]; then
                words="github github-enterprise gitlab bitbucket git generic ssh-key"
            elif [ "$prev" = "--type" ]; then
                words="ed25519 rsa ecdsa"
            elif [ "$prev" = "--import" ]; then  # a private key file
                COMPREPLY=($(compgen -f -- "$cur"))
                return
            elif [[ "$cur" == -* ]]; then
                words="$(_zkvault_edit_options "${COMP_WORDS[at]}")"
            elif [ "${COMP_WORDS[at]}" != add ] && [ "$COMP_CWORD" -eq $((at + 1)) ]; then
                local IFS=$'\n'
                COMPREPLY=($(compgen -W "$(_zkvault_items)" -- "$cur"))
                return
            fi ;;
        unlock)
            words="--passphrase-stdin --idle-timeout --max-lifetime --strict --confirm --json" ;;
        connect) words="--server --name --clean --timeout --json" ;;
        import)
            if [ "$prev" = "--from" ]; then
                words="bitwarden-json 1password-csv"
            elif [[ "$cur" != -* ]]; then  # paths to take tokens from, or the export
                COMPREPLY=($(compgen -f -- "$cur"))
                return
            else
                words="--home --from --dry-run --remove-plaintext --json"
            fi ;;
        adopt)
            if [[ "$cur" != -* ]] && [ "$prev" != "--account-id" ]; then
                COMPREPLY=($(compgen -f -- "$cur"))
                return
            fi
            words="--account-id --json" ;;
        run) words="--env --no-mask --mask-known --vault --" ;;
        list) words="--vault --json" ;;
        status|doctor|identity) words="--json" ;;
        contacts)
            if [ "$COMP_CWORD" -eq $((at + 1)) ]; then
                words="list verify"
            else
                words="--safety-number --tofu --json"
            fi ;;
        team)
            if [ "$prev" = "--role" ]; then
                words="reader writer admin owner"
            elif [ "${COMP_WORDS[at+1]}" = role ] && [ "$COMP_CWORD" -eq $((at + 4)) ]; then
                words="reader writer admin owner"
            elif [ "$COMP_CWORD" -eq $((at + 1)) ]; then
                words="create list members invite add remove role rotate leave invitations"
                words="$words accept decline withdraw audit grant grants ungrant"
            else
                words="--role --safety-number --tofu --limit --export --json"
            fi ;;
        scan)
            if [[ "$cur" != -* ]]; then
                COMPREPLY=($(compgen -f -- "$cur"))
                return
            fi
            words="--home --json" ;;
        git-credential) words="get store erase" ;;
        git) words="setup --global --local --signing --email --json" ;;
        ssh-agent) words="setup --write --profile" ;;
        runner) words="enroll --name --server --timeout --owner-fingerprint --json" ;;
        audit)
            if [ "$prev" = "--export" ]; then
                COMPREPLY=($(compgen -f -- "$cur"))
                return
            fi
            words="verify --export --json" ;;
        ssh) words="--allow --allow-host --ttl --confirm --session-key --authorize --" ;;
        web) words="verify --fresh --json" ;;
        completion) words="bash zsh fish" ;;
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _zkvault zkvault
"""


def cmd_completion(shell: str) -> int:
    if shell != "bash":
        from native import completion_shells

        print(completion_shells.SCRIPTS[shell], end="")
        return 0
    print(BASH, end="")
    return 0
