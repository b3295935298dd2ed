"""The package's shape: a reader searching a module's name lands in one place."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import promptlab_nb

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
    for path in package_modules():
        places[path.name].append(str(path.relative_to(PACKAGE)))
    # Then each file name is in one place only
    shared = {name: paths for name, paths in places.items() if len(paths) > 1}
    assert not shared, f"modules sharing a file name, rename them to say what each holds: {shared}"
