"""``zkvault ssh``: a scoped, forwarded agent for remote builds (docs/remote-builds.md)."""
