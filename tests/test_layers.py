"""The import direction of ``src/genzoo`` (DESIGN.md, "Layout"), checked on the source with ast.

Every ``import`` and ``from ... import`` counts, at module level or inside a function: a
function-local import of a higher layer is as much a dependency as a top-level one. Imports
under ``if TYPE_CHECKING:`` do not: they name types for annotations and never run (the method
contract's ``train_step(batch, opt: Optimizers)`` names the training loop's optimizer type).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "genzoo"

#: layer of each top-level part of the package; a module may import its own layer or lower ones
LAYERS = {
    "errors": 0, "io": 0, "runtime": 0, "config": 0, "registry": 0,
    "data": 1, "metrics": 1, "viz": 1,
    "nets": 2, "losses": 2, "samplers": 2,
    "models": 3,
    "training": 4, "runs": 4,
    "analyze": 5,
    "labs": 6,
    "cli": 7, "__init__": 8, "__main__": 8,
}
#: the rule the layers exist for: the library's lower parts never reach the user-facing ones
NEVER = ({"nets", "models", "samplers", "metrics", "data", "viz"}, {"labs", "analyze", "cli"})


def _part(module: str) -> str | None:
    """``genzoo.models.jem`` -> ``models``; None outside genzoo."""
    names = module.split(".")
    if names[0] != "genzoo":
        return None
    return names[1] if len(names) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported genzoo part) of every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                   for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from genzoo import runtime` imports the submodule genzoo.runtime
            modules = ([f"{node.module}.{a.name}" for a in node.names]
                       if node.module == "genzoo" else [node.module])
        else:
            continue
        found += [(node.lineno, p) for m in modules if (p := _part(m)) is not None]
    return sorted(found)


def _files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_part_of_the_package_has_a_layer():
    parts = {p.stem if p.parent == SRC else p.relative_to(SRC).parts[0] for p in _files()}
    assert parts == set(LAYERS)


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(SRC)))
def test_nothing_imports_upward(path):
    rel = path.relative_to(SRC)
    own = rel.stem if len(rel.parts) == 1 else rel.parts[0]
    upward = [(line, part) for line, part in _imports(path)
              if LAYERS[part] > LAYERS[own] and part != own]
    assert not upward, f"{rel} imports a higher layer: " + ", ".join(
        f"genzoo.{part} (line {line})" for line, part in upward)
    low, high = NEVER
    if own in low:
        assert not {part for _, part in _imports(path)} & high


def test_the_checker_sees_function_local_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from genzoo.labs import toy2d\n    import genzoo.cli\n"
                      "from genzoo import runtime\nif TYPE_CHECKING:\n"
                      "    from genzoo.analyze import jem\n")
    assert _imports(source) == [(2, "labs"), (3, "cli"), (4, "runtime")]


def test_at_most_ten_modules_at_the_package_root():
    modules = sorted(p.name for p in SRC.glob("*.py"))
    assert len(modules) <= 10, modules


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(SRC)))
def test_no_source_file_is_over_400_lines(path):
    assert len(path.read_text().splitlines()) <= 400


def test_design_md_layout_lists_the_package_as_it_is():
    """Every module and folder of ``src/genzoo`` (and nothing else) is named in DESIGN.md's
    layout block, each folder's modules included."""
    design = (SRC.parents[1] / "DESIGN.md").read_text()
    layout = design.split("## Layout", 1)[1].split("```")[1]
    entries = {p.name for p in SRC.iterdir() if not p.name.startswith((".", "__pycache__"))}
    named = {e for e in entries if e in layout or e.removesuffix(".py") + "/" in layout}
    assert named == entries, entries - named
    for folder in (p for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").is_file()):
        for module in folder.glob("*.py"):
            if module.stem != "__init__":
                assert module.stem in layout, f"{folder.name}/{module.name} not in DESIGN.md"
