"""``zkvault import``'s arguments, apart from the command (native.import_cmd) so that
building the CLI's parser for any other command imports nothing of it."""

from __future__ import annotations

TYPE_CHECKING = False  # see native.consumers: the parser loads no typing
if TYPE_CHECKING:
    from typing import Any

# The export formats `import --from` reads (native.import_exports has one reader each).
FORMATS = ("bitwarden-json", "1password-csv")


def add_parser(command: Any) -> None:
    import argparse

    """``import``, through cli._parser's ``command(name, help, json_flag)``."""
    sp = command(
        "import",
        "move plaintext tokens (the ones `scan` finds, or an export) into the vault",
        True,
    )
    sp.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files and directories to take tokens from, as `scan` reads them (without "
        "any: the home directory's credential files); with --from, the export file",
    )
    sp.add_argument(
        "--home",
        action="store_true",
        help="also the home directory's credential files (the default without PATH)",
    )
    sp.add_argument(
        "--from",
        dest="from_format",
        choices=FORMATS,
        metavar="FORMAT",
        help=f"read an unencrypted export instead: {', '.join(FORMATS)}",
    )
    sp.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be imported (names, kinds, hosts, where found), change nothing",
    )
    sp.add_argument(
        "--remove-plaintext",
        action="store_true",
        help="after reading each item back from the saved vault, remove its plaintext "
        "copies and point git at zkvault",
    )
    # `import FILE --account-id UUID`: `adopt`'s old name, kept for one release and left
    # out of --help so that new scripts are written against `adopt`.
    sp.add_argument("--account-id", metavar="UUID", help=argparse.SUPPRESS)


# -- finding the candidates ------------------------------------------------------------------
