"""The layers the docs draw are the layers the import contract enforces, and the contract
names every top-level package, so a new package cannot sit outside it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIAGRAM_MARK = "<!-- layers: kept in step with pyproject.toml by tests/test_architecture.py -->"
# Top-level folders holding Python that are not part of the app's import graph.
NOT_LAYERED = {"tests", "bench", "static", "templates", "docs", "var"}


def importlinter() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def contract_layers() -> list[str]:
    # The top-level layers: the one layers contract that is not inside a container.
    [layers] = [
        c for c in importlinter()["contracts"] if c["type"] == "layers" and "containers" not in c
    ]
    return [" | ".join(part.strip() for part in line.split("|")) for line in layers["layers"]]


def documented_layers() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    after_mark = text.split(DIAGRAM_MARK, 1)[1]
    block = re.search(r"```text\n(.*?)```", after_mark, re.S).group(1)
    # Each line: the layer ("a" or "a | b"), two or more spaces, then what it holds.
    return [re.split(r"\s{2,}", line.strip())[0] for line in block.splitlines() if line.strip()]


def python_packages() -> set[str]:
    return {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in NOT_LAYERED
    }


def test_the_documented_layers_are_the_contracts_layers_in_order():
    assert documented_layers() == contract_layers()


def test_the_layers_contract_names_every_top_level_package():
    named = {name.strip() for line in contract_layers() for name in line.split("|")}
    assert named == python_packages()
    assert set(importlinter()["root_packages"]) == python_packages()


def test_setuptools_installs_every_package_of_every_layer():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    # The packages are named one by one (pyproject.toml), so a new one must be added there.
    in_the_checkout = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for top in python_packages()
        for path in (ROOT / top).rglob("__init__.py")
    }
    # And the folders the web app serves, as packages of their own.
    shipped = set(setuptools["package-dir"])

    assert shipped == {"web.templates", "web.static"}
    assert set(setuptools["packages"]) == in_the_checkout | shipped


def folder_table() -> dict[str, str]:
    """The rows of docs/architecture.md's folder table: folder -> what it holds."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Folders", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)/` \| (.*) \|$", section, re.M)
    return dict(rows)


def test_the_folder_table_names_every_module():
    table = folder_table()
    assert set(table) >= python_packages()
    unnamed = []
    for package in sorted(python_packages()):
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT / package)
            if path.name == "__init__.py" or relative.parts[0] == "migrations":
                continue
            # A module in a room is named by its file name, the room by its folder.
            if f"`{path.name}`" not in table[package]:
                unnamed.append(str(path.relative_to(ROOT)))
            if len(relative.parts) > 1 and f"`{relative.parts[0]}/`" not in table[package]:
                unnamed.append(str(path.relative_to(ROOT)))
    assert unnamed == []
