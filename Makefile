# The README's two commands. Each sets up what it needs on a fresh machine.
.PHONY: run test
run:
	scripts/run.sh
test:
	scripts/test.sh
