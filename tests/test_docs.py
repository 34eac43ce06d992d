"""README.md and docs/: every <!-- tested: ... --> marker names a test file that exists, every
link between the pages reaches a file and a heading, each page opens with its title, purpose and
contents, and the README stays short."""

import re

import pytest

from docs_commands import PAGES, REPOSITORY, documented_commands, marked_blocks

DOCS = REPOSITORY / "docs"
LINK = re.compile(r"\]\(([^)\s]+)\)")
README_MAX_LINES = 250


def heading_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation but ``-`` and ``_`` dropped,
    spaces as ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page) -> set:
    in_fence, found = False, set()
    for line in page.read_text().split("\n"):
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and line.startswith("#"):
            found.add(heading_anchor(line.lstrip("#")))
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_tested_marker_names_an_existing_test_file(page):
    for block in marked_blocks(page):
        assert block.tests, f"{block.where}: the marker names no test file"
        for path in block.tests:
            test_file = REPOSITORY / path
            assert path.startswith("tests/") and test_file.name.startswith("test_") and test_file.is_file(), (
                f"{block.where}: {path} is not a test file of this repository")


def test_the_smoke_runs_and_the_commands_are_marked():
    marked = {path for page in PAGES for block in marked_blocks(page) for path in block.tests}
    assert {"tests/recipes/test_reproduce_librilight.py", "tests/recipes/test_reproduce_slue.py",
            "tests/recipes/test_reproduce_plan.py", "tests/test_configs.py"} <= marked
    for benchmark in ("librilight", "slue"):  # what the slow tests read and run: two commands each
        make_models, recipe = documented_commands("docs/reproduction.md", f"tests/recipes/test_reproduce_{benchmark}.py")
        assert make_models == "gcaf-make-smoke-models --out $MODELS"
        assert recipe.startswith(f"scripts/reproduce_{benchmark}.sh ") and "--cpu --smoke" in recipe


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_links_between_pages_reach_a_file_and_a_heading(page):
    for number, line in enumerate(page.read_text().split("\n"), start=1):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path, _, fragment = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name}:{number}: {target} does not exist"
            if fragment:
                assert fragment in anchors(linked), f"{page.name}:{number}: {linked.name} has no heading #{fragment}"


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda page: page.name)
def test_each_page_has_a_title_a_purpose_and_its_contents(page):
    lines = page.read_text().split("\n")
    assert lines[0].startswith("# ") and lines[1] == "" and lines[2] and not lines[2].startswith(("#", "-", "|"))
    sections = [heading_anchor(line[3:]) for line in lines if line.startswith("## ")]
    contents_start = lines.index("**Contents**")
    contents = []
    for line in lines[contents_start + 2:]:
        if not line.startswith("- ["):
            break
        contents.append(line[line.index("](#") + 3:-1])
    assert contents == sections, f"{page.name}: the contents list differs from the ## sections"


def test_the_readme_is_short_and_links_every_page():
    readme = (REPOSITORY / "README.md").read_text()
    assert len(readme.split("\n")) <= README_MAX_LINES + 1  # the final newline
    for page in DOCS.glob("*.md"):
        assert f"](docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"
