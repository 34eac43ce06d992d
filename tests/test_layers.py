"""The package's layers, read statically (ast, no import): imports between its folders form no
cycle, and no module below the package root imports the root (``gcaf_fairseq/__init__.py``)
or ``gcaf_fairseq.plugin``, which sit above everything. Folders and modules are discovered, so
packages added later are checked too."""

import ast
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

PACKAGE = Path(__file__).resolve().parents[1] / "gcaf_fairseq"
TOP = {"__init__", "plugin"}  # the root's own modules: gcaf_fairseq and gcaf_fairseq.plugin


def module_names(package: Path) -> Dict[str, Path]:
    """``{dotted module name: file}`` of every .py file below ``package`` (a package's
    ``__init__.py`` under the package's own name)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = (package.name,) + path.relative_to(package).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported_modules(name: str, path: Path, known: Set[str]) -> List[Tuple[int, str]]:
    """``(line, module)`` of every import in the file, at any depth (imports inside functions
    count: they are dependencies too), relative imports resolved. ``from P import x`` imports
    ``P.x`` where that is a module of the package, else ``P`` itself."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                parent = ".".join(base + ([node.module] if node.module else []))
            else:
                parent = node.module
            for alias in node.names:
                child = f"{parent}.{alias.name}"
                found.append((node.lineno, child if child in known else parent))
    return found


def folder_of(module: str, root: str) -> Optional[str]:
    """The top-level folder (subpackage) a module of the package lives in; None for the
    root's own modules and for modules outside the package."""
    parts = module.split(".")
    if parts[0] != root or len(parts) == 1 or (len(parts) == 2 and parts[1] in TOP):
        return None
    return parts[1]


def layer_graph(package: Path):
    """``(edges, root_imports)``: ``edges[a][b]`` is the first ``file:line`` where folder ``a``
    imports folder ``b``; ``root_imports`` lists ``file:line imports module`` for each import
    of the root or of ``plugin`` from below the root."""
    modules = module_names(package)
    root = package.name
    folders = {path.parent.name for path in package.glob("*/__init__.py")}
    edges: Dict[str, Dict[str, str]] = {folder: {} for folder in folders}
    root_imports = []
    for name, path in modules.items():  # a module at the root other than TOP counts as a folder of its own
        source_folder = folder_of(name, root)
        for line, target in imported_modules(name, path, set(modules)):
            where = f"{path.relative_to(package.parent)}:{line}"
            if source_folder is not None and target in (root, f"{root}.plugin"):
                root_imports.append(f"{where} imports {target}")
            target_folder = folder_of(target, root)
            if source_folder is not None and target_folder is not None and target_folder != source_folder:
                edges.setdefault(source_folder, {}).setdefault(target_folder, where)
    return edges, root_imports


def find_cycle(edges: Dict[str, Dict[str, str]]) -> Optional[List[str]]:
    """One cycle of folders (first folder repeated at the end), or None."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(folder: str) -> Optional[List[str]]:
        state[folder] = 1
        path.append(folder)
        for target in sorted(edges.get(folder, {})):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[folder] = 2
        return None

    for folder in sorted(edges):
        if folder not in state:
            cycle = visit(folder)
            if cycle:
                return cycle
    return None


def describe(cycle: List[str], edges) -> str:
    return "\n".join(f"  {a} -> {b} ({edges[a][b]})" for a, b in zip(cycle, cycle[1:]))


def test_folders_import_each_other_without_a_cycle():
    edges, _ = layer_graph(PACKAGE)
    assert {"data", "prep", "tasks", "models", "cli"} <= set(edges)  # discovered, not listed
    assert "data" in edges["prep"] and "decoding" in edges["tasks"]  # the graph sees real imports
    cycle = find_cycle(edges)
    assert cycle is None, "the folders of gcaf_fairseq import each other in a cycle:\n" + describe(cycle, edges)


def test_nothing_below_the_root_imports_the_root_or_the_plugin_module():
    _, root_imports = layer_graph(PACKAGE)
    assert not root_imports, "\n".join(root_imports)
    root_modules = sorted(path.stem for path in PACKAGE.glob("*.py"))
    assert root_modules == sorted(TOP), f"modules at the package root besides __init__ and plugin: {root_modules}"


def test_the_checks_find_a_cycle_and_a_root_import(tmp_path):
    package = tmp_path / "toy"
    for folder, text in {
        "low": "from ..high.user import helper\n",
        "high": "def helper():\n    from ..low import base  # noqa\n",
        "side": "from toy import plugin\nfrom .. import VERSION\n",
    }.items():
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
        (package / folder / ("base.py" if folder == "low" else "user.py")).write_text(text)
    (package / "__init__.py").write_text("VERSION = 1\n")
    (package / "plugin.py").write_text("from . import low\n")
    edges, root_imports = layer_graph(package)
    cycle = find_cycle(edges)
    assert cycle in (["high", "low", "high"], ["low", "high", "low"])
    assert "toy/low/base.py:1" in describe(cycle, edges)
    assert root_imports == ["toy/side/user.py:1 imports toy.plugin", "toy/side/user.py:2 imports toy"]
