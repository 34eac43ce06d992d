# The README's two commands: `make demo` and `make test`. Both create .venv first.
.PHONY: setup demo test

setup:
	bash scripts/setup_env.sh

demo: setup
	.venv/bin/gcaf-demo

test: setup
	.venv/bin/python -m pytest --durations=25
