"""The zkvault command for developer machines and CI runners.

Modules are small and imported lazily: the ``get`` and ``git-credential``
paths load only the standard library pieces they need (see docs/cli.md).
"""
