# The README's two commands (run, test), and the inner loop. Each sets up what it needs.
.PHONY: run test lint fmt unit check-docs
run:
	scripts/run.sh
test:
	scripts/test.sh

# The fast checks (pre-commit runs the same): lint, formatting, types.
lint:
	@scripts/bootstrap.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

# Rewrite formatting and the lint fixes that are safe.
fmt:
	@scripts/bootstrap.sh
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

# Everything that needs neither a browser nor PostgreSQL, in two processes (one per core).
unit:
	@scripts/bootstrap.sh
	@.venv/bin/pytest -q -p no:cacheprovider tests/unit & unit=$$!; \
	.venv/bin/pytest -q -p no:cacheprovider tests/native --ignore=tests/native/browser \
		-m "not slow"; native=$$?; \
	wait $$unit && exit $$native

# The documented commands (README.md, docs/) against the real ones: zkvault's --help,
# benchmarks/, this file's targets. Cheap; scripts/test.sh runs it too.
check-docs:
	@scripts/bootstrap.sh
	.venv/bin/python tools/check_docs.py
