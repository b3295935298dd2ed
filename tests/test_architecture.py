"""The package's shape: a reader searching a module's name lands in one place."""

from __future__ import annotations

import ast
from collections import defaultdict
from enum import StrEnum
from pathlib import Path

import promptlab_nb
from promptlab_nb.core import vocabulary

PACKAGE = Path(promptlab_nb.__file__).parent


def package_modules() -> list[Path]:
    return [
        path
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and "migrations" not in path.relative_to(PACKAGE).parts
    ]


def test_no_two_modules_of_the_package_share_a_file_name():
    # Given every module of the package
    places: dict[str, list[str]] = defaultdict(list)
    # When they are gathered by file name
    for path in package_modules():
        places[path.name].append(str(path.relative_to(PACKAGE)))
    # Then each file name is in one place only
    shared = {name: paths for name, paths in places.items() if len(paths) > 1}
    assert not shared, f"modules sharing a file name, rename them to say what each holds: {shared}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every promptlab_nb module ``path`` imports, also inside functions and TYPE_CHECKING blocks."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in imported if name.split(".")[0] == "promptlab_nb"}


def import_graph() -> dict[str, set[str]]:
    paths = [path for path in PACKAGE.rglob("*.py") if "migrations" not in path.relative_to(PACKAGE).parts]
    modules = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(path) & modules for path in paths}


def in_layer(module: str, *layers: str) -> bool:
    return any(module == f"promptlab_nb.{layer}" or module.startswith(f"promptlab_nb.{layer}.") for layer in layers)


def imports_across(importers: tuple[str, ...], imported: tuple[str, ...]) -> dict[str, list[str]]:
    return {
        module: sorted(target for target in targets if in_layer(target, *imported))
        for module, targets in import_graph().items()
        if in_layer(module, *importers) and any(in_layer(target, *imported) for target in targets)
    }


def a_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` as the modules along it, or [] when there is none."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> list[str]:
        if module in visiting:
            return [*visiting[visiting.index(module) :], module]
        if module in done:
            return []
        visiting.append(module)
        for target in sorted(graph.get(module, ())):
            if cycle := visit(target):
                return cycle
        visiting.pop()
        done.add(module)
        return []

    return next((cycle for module in sorted(graph) if (cycle := visit(module))), [])


OUTER_LAYERS = ("notebook", "server", "cli", "api")


def test_data_and_logic_layers_import_nothing_from_the_outer_layers():
    # Given the layers below the notebook, the Jupyter server, the command line and the API service
    lower = ("schemas", "engine", "core", "store", "services", "evaluation", "display")
    # When their imports of an outer layer are gathered
    crossing = imports_across(lower, OUTER_LAYERS)
    # Then none of their modules imports an outer layer, not even lazily or for type checking
    assert not crossing, f"move what these use into display/ or a lower layer: {crossing}"


def test_the_outer_layers_stand_side_by_side():
    # Given the notebook, the Jupyter server, the command line and the API service
    # When the imports of each into the others are gathered
    crossing = {
        layer: imports_across((layer,), tuple(other for other in OUTER_LAYERS if other != layer))
        for layer in OUTER_LAYERS
    }
    crossing["cli"] = {
        module: targets for module, targets in crossing["cli"].items() if module != "promptlab_nb.cli.serve_commands"
    }
    # Then none imports another, except the command line starting the API service
    assert not any(crossing.values()), f"share what both need through a lower layer: {crossing}"


def test_schemas_are_plain_data_that_import_nothing_of_the_display():
    # Given the schemas, what services return and the display formats
    # When their imports of the display are gathered
    crossing = imports_across(("schemas",), ("display",))
    # Then no schema formats itself: cards and tables are the display's, which reads the schemas
    assert not crossing, f"move the formatting into display/ and let it read the schema: {crossing}"


def test_providers_import_nothing_from_the_store():
    # Given the providers
    # When their imports of the store are gathered
    crossing = imports_across(("engine.providers",), ("store",))
    # Then there is none
    assert not crossing, f"providers are strategies over plain data; ids and the clock are in core/: {crossing}"


def test_the_store_imports_only_the_core():
    # Given the store
    # When its imports of the layers above the core are gathered
    crossing = imports_across(("store",), ("schemas", "engine", "services", "evaluation", "display", *OUTER_LAYERS))
    # Then there is none
    assert not crossing, f"the store keeps rows; what works on them belongs to a layer above: {crossing}"


def test_core_imports_nothing_else_of_the_package():
    # Given the core
    # When its imports of the rest of the package are gathered
    outside = {
        module: sorted(target for target in targets if not in_layer(target, "core"))
        for module, targets in import_graph().items()
        if in_layer(module, "core") and any(not in_layer(target, "core") for target in targets)
    }
    # Then there is none
    assert not outside, f"core/ is the bottom layer: {outside}"


def test_the_lab_the_experiment_and_the_notebook_import_one_another_in_no_cycle():
    # Given the imports among the facade modules and the notebook package
    facade = ("_lab", "experiment", "notebook")
    graph = {
        module: {target for target in targets if in_layer(target, *facade)}
        for module, targets in import_graph().items()
        if in_layer(module, *facade)
    }
    # When a path from a module back to itself is looked for
    cycle = a_cycle(graph)
    # Then no module reaches itself again
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_no_two_modules_of_the_package_import_each_other_even_through_others():
    # Given the imports among all modules of the package
    graph = {module: targets - {module} for module, targets in import_graph().items()}
    # When a path from a module back to itself is looked for
    cycle = a_cycle(graph)
    # Then there is none
    assert not cycle, "import cycle, a boundary in the wrong place: " + " -> ".join(cycle)


VOCABULARY = PACKAGE / "core" / "vocabulary.py"
DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _vocabularies() -> list[type[StrEnum]]:
    return [
        value
        for value in vars(vocabulary).values()
        if isinstance(value, type) and issubclass(value, StrEnum) and value is not StrEnum
    ]


STATUS_WORDS = {member.value for vocabulary in _vocabularies() for member in vocabulary}
UNMISTAKABLE_STATUS_WORDS = {
    "completed",
    "cancelled",
    "interrupted",
    "submitted",
    "running",
    "submitting",
    "in_progress",
}
STATUS_NAMES = ("status", "mode")


def _docstrings(tree: ast.AST) -> set[int]:
    bodies = (node.body for node in ast.walk(tree) if isinstance(node, DOCUMENTED))
    return {id(body[0].value) for body in bodies if body and isinstance(body[0], ast.Expr)}


def _names_a_status(node: ast.AST) -> bool:
    """``status``, ``run.mode``, ``record["status"]``, ``Run.status``: anything whose text says status or mode."""
    return any(name in ast.unparse(node).lower() for name in STATUS_NAMES)


def _status_slots(tree: ast.AST) -> list[ast.AST]:
    """Where a status or mode is given: compared with one, passed or defaulted as one, assigned to one."""
    slots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(_names_a_status(operand) for operand in operands):
                slots += [operand for operand in operands if not _names_a_status(operand)]
        elif isinstance(node, ast.keyword) and node.arg in STATUS_NAMES:
            slots.append(node.value)
        elif isinstance(node, ast.arguments):
            parameters = [*node.posonlyargs, *node.args]
            defaults = zip(reversed(parameters), reversed(node.defaults), strict=False)
            keyword_defaults = zip(node.kwonlyargs, node.kw_defaults, strict=True)
            for parameter, default in [*defaults, *keyword_defaults]:
                if default is not None and parameter.arg in STATUS_NAMES:
                    slots.append(default)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs = zip(target.elts, node.value.elts, strict=True)
                    slots += [value for part, value in pairs if _names_a_status(part)]
                elif _names_a_status(target):
                    slots.append(node.value)
        elif isinstance(node, ast.Dict):
            pairs = zip(node.keys, node.values, strict=True)
            slots += [value for key, value in pairs if key is not None and _names_a_status(key)]
    return slots


def _word_in(node: ast.AST, words: set[str]) -> str | None:
    return next(
        (
            part.value
            for part in ast.walk(node)
            if isinstance(part, ast.Constant) and isinstance(part.value, str) and part.value in words
        ),
        None,
    )


def _labels(tree: ast.AST) -> set[int]:
    """Column names that happen to be status words: ``.label("submitted")``, ``LIST_COLUMNS = [...]``."""
    labels = [
        node.args
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "label"
    ]
    labels += [
        [node.value]
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(ast.unparse(target).endswith("COLUMNS") for target in node.targets)
    ]
    return {id(part) for arguments in labels for argument in arguments for part in ast.walk(argument)}


def _translates_a_provider(path: Path) -> bool:
    """A provider adapter maps the provider's own words ("completed", "ended") onto the vocabulary."""
    return path.name.endswith("_provider.py")


def bare_status_literals(path: Path) -> list[str]:
    """Status words given as a status or mode, and the unmistakable ones anywhere but in docstrings
    and column names."""
    if _translates_a_provider(path):
        return []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    where = str(path.relative_to(PACKAGE))
    found = [
        f"{where}:{slot.lineno} {word!r}"
        for slot in _status_slots(tree)
        if (word := _word_in(slot, STATUS_WORDS)) is not None
    ]
    skipped = _docstrings(tree) | _labels(tree)
    found += [
        f"{where}:{node.lineno} {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in UNMISTAKABLE_STATUS_WORDS and id(node) not in skipped
    ]
    return sorted(set(found))


def test_statuses_and_modes_are_named_by_the_vocabulary_not_spelled_as_strings():
    # Given every module of the package but the vocabulary itself
    modules = [path for path in package_modules() if path != VOCABULARY]
    # When each is read for statuses and modes written as bare strings
    bare = [literal for path in modules for literal in bare_status_literals(path)]
    # Then none is: a typo in RunStatus.OK is an error, a typo in "ok" a silent miss
    assert not bare, f"use the StrEnums of promptlab_nb/core/vocabulary.py instead of these strings: {bare}"


def public_classes() -> dict[str, list[str]]:
    places: dict[str, list[str]] = defaultdict(list)
    for path in package_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign) and _is_type_alias(node.value):
                names = [target.id for target in node.targets if isinstance(target, ast.Name)]
            else:
                continue
            for name in names:
                if not name.startswith("_") and name[0].isupper() and not name.isupper():
                    places[name].append(str(path.relative_to(PACKAGE)))
    return places


def _is_type_alias(value: ast.expr) -> bool:
    """``Scorer = Callable[...]``, ``Row = dict[str, Any]``: a capitalised name bound to a subscripted type."""
    return isinstance(value, ast.Subscript)


def test_no_two_public_classes_or_type_aliases_of_the_package_share_a_name():
    # Given every public class and type alias of the package
    # When they are gathered by name
    places = public_classes()
    # Then each name is in one place only, so a reader searching it lands on the one meant
    shared = {name: paths for name, paths in places.items() if len(paths) > 1}
    assert not shared, f"public types sharing a name, give each a name that says what it is: {shared}"


def test_the_package_tells_type_checkers_it_is_typed():
    # Given the installed package
    # When its folder is looked at
    marker = PACKAGE / "py.typed"
    # Then it ships the py.typed marker, so users' type checkers read its annotations
    assert marker.is_file()
