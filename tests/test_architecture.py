"""The package's rules of structure, read from the source (``ast``; nothing is imported).

``course_utils`` is built in four layers (docs/architecture.md):

* ``foundations`` (0): seeding and the shared argument checks; imports torch, numpy, stdlib;
* ``mechanisms`` (1): what the notes teach; imports torch, numpy, stdlib and layers 0-1;
* ``worlds`` (2): the chapters' toy worlds, their models, training and checkpoints;
* ``learner`` (3): quizzes, exercises, progress, heatmaps and widgets.

Kept here:

a. a module imports only from its own layer or a lower one (not from the top-level package,
   whose ``__init__`` may load the learner's tools, and not from an old-path module); the
   old-path modules (``course_utils/*.py`` besides ``__init__.py``) may import anything but
   hold nothing except a docstring, imports and ``__all__``;
b. no import circle among the package's modules (module-level imports; an import inside a
   function runs late and is allowed: ``python tests/test_architecture.py`` lists them);
c. no private name (``_x``) taken from another of the course's modules, in ``course_utils/``,
   ``tools/`` and ``benchmarks/``: neither ``from m import _x`` nor ``m._x``;
d. no module of the package longer than :data:`MAX_LINES` lines;
e. the mechanisms (and the foundations) import nothing but torch, numpy, the standard library
   and the course's lower layers;
f. ``import course_utils`` loads nothing of the learner's tools (no module-level import of
   ``course_utils/__init__.py``, followed through every module it loads, reaches them).

The checker is tested on small made-up packages first (``test_checker_*``), so that the rules
cannot pass on an empty or unparsed tree.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "course_utils"
LAYERS = {"foundations": 0, "mechanisms": 1, "worlds": 2, "learner": 3}
TOP = len(LAYERS)          # the package's __init__ and the old-path modules: above every layer
MAX_LINES = 600
THIRD_PARTY_BELOW_WORLDS = {"torch", "numpy"}
STDLIB = set(sys.stdlib_module_names)


# ---------------------------------------------------------------------------------------------
# Reading a package
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Module:
    name: str              # dotted: course_utils.mechanisms.attention
    path: Path
    is_package: bool       # an __init__.py
    tree: ast.Module
    n_lines: int

    @property
    def package(self) -> str:
        """The package that ``from . import`` refers to."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class Import:
    importer: str          # the module whose source holds the statement
    target: str            # absolute dotted name of what is imported (a module or a package)
    names: tuple[str, ...]  # for ``from target import a, b``: a, b (empty for ``import``)
    line: int
    module_level: bool     # False inside a function (runs when the function is called)
    type_checking: bool    # under ``if TYPE_CHECKING:`` (never runs)


def read_package(package_dir: Path, name: str = PACKAGE) -> dict[str, Module]:
    """Every ``.py`` file of the package at ``package_dir``, parsed, by dotted module name."""
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        dotted = ".".join([name, *parts])
        text = path.read_text(encoding="utf-8")
        modules[dotted] = Module(dotted, path, is_package, ast.parse(text, filename=str(path)),
                                 len(text.splitlines()))
    return modules


def where(module: Module, line: int | None = None) -> str:
    """``course_utils/x.py:12``, relative to the repository when it is inside it."""
    try:
        shown = module.path.relative_to(ROOT)
    except ValueError:
        shown = module.path
    return f"{shown}:{line}" if line is not None else str(shown)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk_imports(node: ast.AST, in_function: bool = False, in_type_checking: bool = False):
    """(statement, inside a function, under TYPE_CHECKING) for every import under ``node``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function, in_type_checking
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _walk_imports(child, True, in_type_checking)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk_imports(ast.Module(body=[stmt], type_ignores=[]),
                                         in_function, True)
            for stmt in child.orelse:
                yield from _walk_imports(ast.Module(body=[stmt], type_ignores=[]),
                                         in_function, in_type_checking)
        else:
            yield from _walk_imports(child, in_function, in_type_checking)


def absolute(module: Module, stmt: ast.ImportFrom) -> str:
    """The absolute name of ``from <...> import`` in ``module`` (relative levels resolved)."""
    if not stmt.level:
        return stmt.module or ""
    base = module.package.split(".")
    if stmt.level - 1 >= len(base):
        raise ValueError(f"{where(module, stmt.lineno)}: relative import beyond the top package")
    base = base[:len(base) - (stmt.level - 1)]
    return ".".join(base + ([stmt.module] if stmt.module else []))


def imports_of(module: Module, known: dict[str, Module]) -> list[Import]:
    """Every import statement of ``module``; ``from p import m`` of a submodule ``m`` of the
    package ``p`` counts as importing ``p.m``."""
    found = []
    for stmt, in_function, type_checking in _walk_imports(module.tree):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                found.append(Import(module.name, alias.name, (), stmt.lineno, not in_function,
                                    type_checking))
            continue
        base = absolute(module, stmt)
        names = tuple(alias.name for alias in stmt.names)
        submodules = [n for n in names if f"{base}.{n}" in known]
        for n in submodules:
            found.append(Import(module.name, f"{base}.{n}", (), stmt.lineno, not in_function,
                                type_checking))
        rest = tuple(n for n in names if n not in submodules)
        if rest or not submodules:
            found.append(Import(module.name, base, rest, stmt.lineno, not in_function,
                                type_checking))
    return found


def in_package(name: str, package: str = PACKAGE) -> bool:
    return name == package or name.startswith(package + ".")


def owner(name: str, known: dict[str, Module]) -> str | None:
    """The course module that ``name`` is or lies in: ``course_utils.x.f`` -> ``course_utils.x``."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def layer(name: str) -> int:
    """0-3 for a module inside a layer package, :data:`TOP` for the top-level package and the
    old-path modules."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[1] in LAYERS:
        return LAYERS[parts[1]]
    return TOP


def is_shim(module: Module) -> bool:
    """An old-path module: ``course_utils/<name>.py`` directly in the package, not its __init__."""
    parts = module.name.split(".")
    return len(parts) == 2 and not module.is_package and parts[1] not in LAYERS


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


# ---------------------------------------------------------------------------------------------
# The rules; each returns its offences as "file:line: what", empty when the rule holds
# ---------------------------------------------------------------------------------------------

def upward_imports(modules: dict[str, Module]) -> list[str]:
    """(a) Imports (anywhere in a module, lazy ones included) from a higher layer."""
    offences = []
    for module in modules.values():
        here = layer(module.name)
        if here == TOP:
            continue
        for imp in imports_of(module, modules):
            target = owner(imp.target, modules) if in_package(imp.target) else None
            if target is None:
                continue
            if layer(target) > here:
                what = ("the top-level package or an old path" if layer(target) == TOP
                        else f"layer {layer(target)}")
                names = f"{', '.join(imp.names)} from " if imp.names else ""
                offences.append(
                    f"{where(module, imp.line)}: layer {here} ({module.name}) imports "
                    f"{names}{imp.target}, {what}; import from layer {here} or below (the new "
                    f"paths)")
    return offences


def shim_definitions(modules: dict[str, Module]) -> list[str]:
    """(a) Statements of an old-path module other than its docstring, imports and __all__."""
    offences = []
    for module in modules.values():
        if not is_shim(module):
            continue
        for index, stmt in enumerate(module.tree.body):
            if index == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                continue
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                continue
            targets = (stmt.targets if isinstance(stmt, ast.Assign)
                       else [stmt.target] if isinstance(stmt, ast.AugAssign | ast.AnnAssign)
                       else [])
            if targets and all(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                continue
            offences.append(
                f"{where(module, stmt.lineno)}: the old path {module.name} defines something "
                f"({type(stmt).__name__}); it may only re-export (docstring, imports, __all__)")
    return offences


def import_graph(modules: dict[str, Module]) -> dict[str, dict[str, int]]:
    """Module-level, run-time imports between the package's modules: importer -> {imported:
    line}. Importing ``a.b.c`` also runs the ``__init__`` of ``a.b`` unless the importer is
    inside ``a.b`` already."""
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for module in modules.values():
        for imp in imports_of(module, modules):
            if not imp.module_level or imp.type_checking or not in_package(imp.target):
                continue
            target = owner(imp.target, modules)
            if target is None:
                continue
            chain = [target]
            parent = target.rpartition(".")[0]
            while parent and parent in modules:
                if not in_package(module.name, parent):
                    chain.append(parent)
                parent = parent.rpartition(".")[0]
            for name in chain:
                if name != module.name:
                    graph[module.name].setdefault(name, imp.line)
    return graph


def import_cycles(modules: dict[str, Module]) -> list[str]:
    """(b) Every circle of module-level imports, one per strongly connected group."""
    graph = import_graph(modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:           # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for node in sorted(graph):
            if node not in index:
                connect(node)
    finally:
        sys.setrecursionlimit(limit)

    offences = []
    for group in groups:
        members = set(group)
        steps = [f"{where(modules[a], graph[a][b])} {a} -> {b}"
                 for a in group for b in sorted(graph[a]) if b in members]
        offences.append("import circle among " + ", ".join(group) + ":\n    "
                        + "\n    ".join(steps))
    return offences


def lazy_imports(modules: dict[str, Module]) -> list[str]:
    """Imports of the package's modules inside a function (allowed; listed for review)."""
    return [f"{where(modules[imp.importer], imp.line)}: {imp.importer} -> {imp.target}"
            + (f" ({', '.join(imp.names)})" if imp.names else "")
            for module in modules.values() for imp in imports_of(module, modules)
            if not imp.module_level and in_package(imp.target)]


def long_modules(modules: dict[str, Module], limit: int = MAX_LINES) -> list[str]:
    """(d) Modules longer than ``limit`` lines."""
    return [f"{where(m)}:{limit + 1}: {m.n_lines} lines, more than {limit}; split the module"
            for m in modules.values() if m.n_lines > limit]


def foreign_imports(modules: dict[str, Module], layer_name: str,
                    allowed: set[str] = THIRD_PARTY_BELOW_WORLDS) -> list[str]:
    """(e) Imports of a layer's modules from outside torch, numpy, the standard library and the
    course's layers up to this one."""
    offences = []
    for module in modules.values():
        if layer(module.name) != LAYERS[layer_name]:
            continue
        for imp in imports_of(module, modules):
            top = imp.target.split(".")[0]
            if in_package(imp.target):
                continue                      # rule (a) keeps the course's own imports in order
            if top in allowed or top in STDLIB:
                continue
            offences.append(f"{where(module, imp.line)}: {module.name} ({layer_name}) imports "
                            f"{imp.target}; only torch, numpy and the standard library may be "
                            f"imported there")
    return offences


def learner_loaded_by_init(modules: dict[str, Module], package: str = PACKAGE) -> list[str]:
    """(f) What of the learner's tools ``import course_utils`` loads: the package's module-level
    imports, followed through every module they load."""
    graph = import_graph(modules)
    seen = {package: [package]}
    todo = [package]
    while todo:
        name = todo.pop()
        for nxt in sorted(graph.get(name, {})):
            if nxt not in seen:
                seen[nxt] = [*seen[name], nxt]
                todo.append(nxt)
    offences = []
    for name, path in sorted(seen.items()):
        if layer(name) == LAYERS["learner"]:
            first = path[1]
            line = graph[package][first]
            offences.append(f"{where(modules[package], line)}: import {package} loads {name} "
                            f"(via {' -> '.join(path)}); load the learner's tools lazily "
                            f"(module __getattr__)")
    return offences


def private_imports(files: list[Path], modules: dict[str, Module],
                    first_party: set[str] = frozenset()) -> list[str]:
    """(c) Private names taken from another of the course's modules: ``from m import _x`` and
    ``m._x`` where ``m`` is bound to a course module. ``files`` are read as modules of the
    package when they lie in it, as top-level scripts otherwise (``first_party``: the names
    under which those scripts import one another). Code held in a string (a cell a tool adds
    to a notebook) is read too."""
    by_path = {m.path.resolve(): m for m in modules.values()}
    offences = []
    for path in files:
        module = by_path.get(path.resolve())
        if module is None:
            module = Module(path.stem, path, False, ast.parse(path.read_text(encoding="utf-8")),
                            0)
        trees = [(module.tree, None)]
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and "import" in node.value:
                try:
                    trees.append((ast.parse(node.value), node.lineno))
                except SyntaxError:
                    pass
        for tree, string_line in trees:
            offences += _private_in(module, tree, string_line, modules, first_party)
    return offences


def _course_module(name: str, modules: dict[str, Module], first_party: set[str]) -> bool:
    return owner(name, modules) is not None or name.split(".")[0] in first_party


def _private_in(module: Module, tree: ast.Module, string_line: int | None,
                modules: dict[str, Module], first_party: set[str]) -> list[str]:
    offences = []
    bound: dict[str, str] = {}      # local name -> course module it refers to

    def line_of(node: ast.AST) -> int:
        return node.lineno if string_line is None else string_line + node.lineno - 1

    inner = Module(module.name, module.path, module.is_package, tree, 0)
    for stmt, _, _ in _walk_imports(tree):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                if _course_module(alias.name, modules, first_party):
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
            continue
        base = absolute(inner, stmt) if stmt.level else (stmt.module or "")
        if not _course_module(base, modules, first_party):
            continue
        for alias in stmt.names:
            if is_private(alias.name):
                offences.append(f"{where(module, line_of(stmt))}: from {base} import "
                                f"{alias.name}: a private name of another module; make it "
                                f"public where it lives (or keep it in one module)")
            elif f"{base}.{alias.name}" in modules:
                bound[alias.asname or alias.name] = f"{base}.{alias.name}"
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and is_private(node.attr)):
            continue
        dotted = _dotted(node.value)
        if dotted is None:
            continue
        head, _, rest = dotted.partition(".")
        if head not in bound:
            continue
        target = bound[head] + ("." + rest if rest else "")
        if (target in modules and target != module.name) or (
                target.split(".")[0] in first_party and target != module.name):
            offences.append(f"{where(module, line_of(node))}: {dotted}.{node.attr}: a private "
                            f"name of another module ({target})")
    return offences


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


# ---------------------------------------------------------------------------------------------
# The course's own tree
# ---------------------------------------------------------------------------------------------

def course_modules() -> dict[str, Module]:
    return read_package(ROOT / PACKAGE)


def scripts() -> list[Path]:
    return sorted((ROOT / "tools").glob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))


def report(offences: list[str]) -> str:
    return f"{len(offences)} offence(s):\n" + "\n".join(offences)


def test_the_package_has_its_four_layers():
    modules = course_modules()
    for name in LAYERS:
        assert f"{PACKAGE}.{name}" in modules, f"{PACKAGE}/{name}/__init__.py is missing"
        inside = [m for m in modules if m.startswith(f"{PACKAGE}.{name}.")]
        assert inside, f"{PACKAGE}/{name}/ holds no module"
    assert any(is_shim(m) for m in modules.values()), "no old-path module is left"


def test_every_package_is_installed():
    """A folder of modules is a package (its ``__init__.py``) and pyproject.toml installs it:
    an explicit ``packages`` list must name every subpackage, or a wheel leaves it out."""
    import tomllib

    modules = course_modules()
    folders = {".".join([PACKAGE, *p.relative_to(ROOT / PACKAGE).parent.parts])
               for p in (ROOT / PACKAGE).rglob("*.py")}
    missing = sorted(f for f in folders if f not in modules or not modules[f].is_package)
    assert not missing, f"folders without __init__.py: {missing}"
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = setuptools.get("packages")
    if isinstance(listed, list):
        left_out = sorted(folders - set(listed))
        assert not left_out, (f"pyproject.toml: [tool.setuptools] packages leaves out "
                              f"{left_out}; list them, or use packages.find")


def test_each_module_imports_only_from_its_layer_or_below():
    offences = upward_imports(course_modules())
    assert not offences, report(offences)


def test_the_old_paths_only_re_export():
    offences = shim_definitions(course_modules())
    assert not offences, report(offences)


def test_no_import_circle():
    offences = import_cycles(course_modules())
    assert not offences, report(offences)


def test_no_private_name_crosses_modules():
    modules = course_modules()
    files = [m.path for m in modules.values()] + scripts()
    first_party = {p.stem for p in scripts()}
    offences = private_imports(files, modules, first_party)
    assert not offences, report(offences)


def test_no_module_is_longer_than_the_limit():
    offences = long_modules(course_modules())
    assert not offences, report(offences)


@pytest.mark.parametrize("layer_name", ["foundations", "mechanisms"])
def test_the_lower_layers_import_only_torch_numpy_and_the_standard_library(layer_name):
    offences = foreign_imports(course_modules(), layer_name)
    assert not offences, report(offences)


def test_import_course_utils_loads_none_of_the_learners_tools():
    offences = learner_loaded_by_init(course_modules())
    assert not offences, report(offences)


# ---------------------------------------------------------------------------------------------
# The checker itself, on made-up packages
# ---------------------------------------------------------------------------------------------

CLEAN = {
    "__init__.py": '"""Top."""\nfrom .foundations.seeding import set_seed\n\n\n'
                   'def __getattr__(name):\n    from .learner import progress\n'
                   '    return progress.progress\n',
    "foundations/__init__.py": "",
    "foundations/seeding.py": "import random\n\nimport torch\n\n\ndef set_seed(s):\n"
                              "    return s\n",
    "foundations/checks.py": "def positive_int(x, name):\n    return x\n",
    "mechanisms/__init__.py": "",
    "mechanisms/attention.py": "import math\n\nimport torch\n\n"
                               "from ..foundations.checks import positive_int\n"
                               "from ..foundations.seeding import set_seed\n",
    "mechanisms/transformer.py": "from .attention import *\nfrom . import attention\n"
                                 "x = attention.public\n",
    "worlds/__init__.py": "",
    "worlds/tasks.py": "from ..mechanisms.attention import positive_int\n",
    "learner/__init__.py": "",
    "learner/progress.py": "import json\n\nfrom ..worlds import tasks\n",
    "learner/quiz.py": "import pydantic\n\n\ndef later():\n"
                       "    from . import progress\n    return progress\n",
    "attention.py": '"""Old path: the code lives in course_utils.mechanisms.attention."""\n'
                    "from .mechanisms.attention import *  # noqa: F403\n"
                    "from .mechanisms.attention import positive_int\n\n"
                    "__all__ = ['positive_int']\n",
}


def make_tree(tmp_path: Path, changes: dict[str, str] | None = None) -> dict[str, Module]:
    """The package ``CLEAN`` with ``changes`` (file path -> source) written under
    ``tmp_path/course_utils``, read back."""
    root = tmp_path / PACKAGE
    for rel, text in {**CLEAN, **(changes or {})}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return read_package(root)


def all_offences(modules: dict[str, Module]) -> list[str]:
    return (upward_imports(modules) + shim_definitions(modules) + import_cycles(modules)
            + private_imports([m.path for m in modules.values()], modules)
            + long_modules(modules) + foreign_imports(modules, "foundations")
            + foreign_imports(modules, "mechanisms") + learner_loaded_by_init(modules))


def test_checker_reads_the_made_up_package(tmp_path):
    modules = make_tree(tmp_path)
    assert set(modules) == {
        "course_utils", "course_utils.foundations", "course_utils.foundations.seeding",
        "course_utils.foundations.checks", "course_utils.mechanisms",
        "course_utils.mechanisms.attention", "course_utils.mechanisms.transformer",
        "course_utils.worlds", "course_utils.worlds.tasks", "course_utils.learner",
        "course_utils.learner.progress", "course_utils.learner.quiz", "course_utils.attention"}
    targets = {(i.target, i.names) for i in imports_of(modules["course_utils.mechanisms.attention"],
                                                        modules)}
    assert ("course_utils.foundations.checks", ("positive_int",)) in targets
    graph = import_graph(modules)
    assert "course_utils.foundations.checks" in graph["course_utils.mechanisms.attention"]
    assert "course_utils.foundations" in graph["course_utils.mechanisms.attention"]
    assert "course_utils.learner.progress" not in graph["course_utils.learner.quiz"]


def test_checker_passes_a_clean_package(tmp_path):
    modules = make_tree(tmp_path)
    assert all_offences(modules) == []
    lazy = lazy_imports(modules)
    assert len(lazy) == 2, lazy
    assert lazy[0].endswith("__init__.py:6: course_utils -> course_utils.learner.progress")
    assert lazy[1].endswith("learner/quiz.py:5: course_utils.learner.quiz -> "
                            "course_utils.learner.progress")


@pytest.mark.parametrize("source", [
    "from ..worlds.tasks import something\n",
    "from ..worlds import tasks\n",
    "import course_utils.learner.quiz\n",
    "from course_utils.worlds.tasks import x\n",
    "def lazy():\n    from ..learner import quiz\n",
    "from .. import set_seed\n",                    # the top-level package
    "from ..attention import positive_int\n",        # an old path
])
def test_checker_catches_an_upward_import(tmp_path, source):
    modules = make_tree(tmp_path, {"mechanisms/attention.py": source})
    offences = upward_imports(modules)
    assert len(offences) == 1, offences
    assert "mechanisms/attention.py:" in offences[0] and "layer 1" in offences[0]


def test_checker_names_the_line_of_an_upward_import(tmp_path):
    modules = make_tree(tmp_path, {"worlds/tasks.py": "import math\n\n"
                                                      "from ..learner.quiz import x\n"})
    [offence] = upward_imports(modules)
    assert offence.startswith(f"{modules['course_utils.worlds.tasks'].path}:3: layer 2")


def test_checker_catches_an_import_circle(tmp_path):
    modules = make_tree(tmp_path, {
        "worlds/tasks.py": "from .more import y\n",
        "worlds/more.py": "import os\n\nfrom .tasks import x\n"})
    [offence] = import_cycles(modules)
    assert "course_utils.worlds.more, course_utils.worlds.tasks" in offence
    assert "worlds/more.py:3" in offence and "worlds/tasks.py:1" in offence


def test_checker_catches_a_circle_of_three_and_one_through_a_package(tmp_path):
    modules = make_tree(tmp_path, {
        "mechanisms/a.py": "from . import b\n", "mechanisms/b.py": "from .c import f\n",
        "mechanisms/c.py": "import course_utils.mechanisms.a\n"})
    [offence] = import_cycles(modules)
    assert "course_utils.mechanisms.a, course_utils.mechanisms.b, course_utils.mechanisms.c" \
        in offence
    modules = make_tree(tmp_path / "2", {
        "worlds/__init__.py": "from .tasks import x\n",
        "worlds/tasks.py": "import os\n",
        "learner/progress.py": "from ..worlds import tasks\n",
        "learner/__init__.py": "from .progress import y\n",
        "learner/quiz.py": "from . import progress\n"})
    assert import_cycles(modules) == []          # a package's __init__ and its own modules
    modules = make_tree(tmp_path / "3", {
        "worlds/__init__.py": "from .tasks import x\n",
        "mechanisms/attention.py": "from ..worlds.tasks import x\n",
        "worlds/tasks.py": "from ..mechanisms import attention\n"})
    assert len(import_cycles(modules)) == 1


def test_checker_lets_a_lazy_import_close_no_circle(tmp_path):
    modules = make_tree(tmp_path, {
        "worlds/tasks.py": "from .more import y\n",
        "worlds/more.py": "def f():\n    from .tasks import x\n    return x\n"})
    assert import_cycles(modules) == []
    assert any("worlds.more -> course_utils.worlds.tasks" in line
               for line in lazy_imports(modules))


@pytest.mark.parametrize("source", [
    "from .attention import _check_mask\n",
    "from course_utils.mechanisms.attention import _check_mask as check_mask\n",
    "from . import attention\n\nx = attention._check_mask\n",
    "import course_utils.mechanisms.attention as att\n\nx = att._check_mask\n",
    "import course_utils.mechanisms.attention\n\n"
    "x = course_utils.mechanisms.attention._check_mask\n",
    'CELL = """\nfrom course_utils.mechanisms.attention import _check_mask\n"""\n',
])
def test_checker_catches_a_private_import(tmp_path, source):
    modules = make_tree(tmp_path, {"mechanisms/transformer.py": source})
    offences = private_imports([m.path for m in modules.values()], modules)
    assert len(offences) == 1, offences
    assert "mechanisms/transformer.py:" in offences[0] and "_check_mask" in offences[0]


def test_checker_leaves_dunders_own_names_and_other_libraries_alone(tmp_path):
    modules = make_tree(tmp_path, {"mechanisms/transformer.py": (
        "from torch.utils._pytree import tree_flatten\nfrom torch import _C\n"
        "from .attention import __all__ as names\n\n"
        "def _own():\n    return _own.__name__\n\n"
        "class A:\n    def f(self):\n        return self._x, A._y\n")})
    assert private_imports([m.path for m in modules.values()], modules) == []


def test_checker_catches_a_private_import_in_a_script(tmp_path):
    modules = make_tree(tmp_path)
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "glossary.py").write_text("def _slug(x):\n    return x\n")
    (tools / "site.py").write_text("import glossary\nfrom glossary import _slug\n"
                                   "from course_utils.mechanisms.attention import _f\n"
                                   "x = glossary._slug\n")
    offences = private_imports(sorted(tools.glob("*.py")), modules, {"glossary", "site"})
    assert [o.split(": ", 1)[0].rsplit(":", 1)[1] for o in offences] == ["2", "3", "4"]


def test_checker_catches_a_definition_in_an_old_path(tmp_path):
    modules = make_tree(tmp_path, {"attention.py": (
        '"""Old path."""\nfrom .mechanisms.attention import *\n\n\n'
        "def helper():\n    return 1\n\n__all__ = []\n")})
    [offence] = shim_definitions(modules)
    assert offence.startswith(f"{modules['course_utils.attention'].path}:5:")
    modules = make_tree(tmp_path / "2", {"attention.py": "x = 1\n__all__ = ['x']\n"})
    assert len(shim_definitions(modules)) == 1


def test_checker_catches_a_long_module(tmp_path):
    modules = make_tree(tmp_path, {"worlds/tasks.py": "x = 1\n" * (MAX_LINES + 1)})
    [offence] = long_modules(modules)
    assert "worlds/tasks.py" in offence and f"{MAX_LINES + 1} lines" in offence
    modules = make_tree(tmp_path / "2", {"worlds/tasks.py": "x = 1\n" * MAX_LINES})
    assert long_modules(modules) == []


@pytest.mark.parametrize(("key", "source", "layer_name"), [
    ("mechanisms/attention.py", "import matplotlib.pyplot as plt\n", "mechanisms"),
    ("mechanisms/attention.py", "def f():\n    import ipywidgets\n", "mechanisms"),
    ("foundations/checks.py", "from pydantic import BaseModel\n", "foundations"),
])
def test_checker_catches_a_foreign_import_below_the_worlds(tmp_path, key, source, layer_name):
    modules = make_tree(tmp_path, {key: source})
    [offence] = foreign_imports(modules, layer_name)
    assert key + ":" in offence


@pytest.mark.parametrize("source", [
    "from .learner.progress import progress\n",
    "from .learner import progress\n",
    "from . import attention\n",                      # an old path is fine if it stays light …
])
def test_checker_catches_the_package_loading_the_learner(tmp_path, source):
    heavy_shim = ('"""Old path."""\nfrom .mechanisms.attention import *\n'
                  "from .learner.quiz import show\n")
    modules = make_tree(tmp_path, {"__init__.py": source, "attention.py": heavy_shim})
    offences = learner_loaded_by_init(modules)
    assert offences and all(o.startswith(f"{modules['course_utils'].path}:1:")
                            for o in offences), offences  # … but this one loads the learner


def main() -> int:
    """List the imports inside functions, the import graph's size and every rule's offences."""
    modules = course_modules()
    lazy = lazy_imports(modules)
    print(f"{len(modules)} modules; {sum(map(len, import_graph(modules).values()))} "
          f"module-level imports between them")
    print(f"imports inside functions ({len(lazy)}):")
    for line in lazy:
        print("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
