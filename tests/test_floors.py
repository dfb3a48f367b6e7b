"""The package's rooms form floors: no import cycle between top-level rooms, every room on a floor.

Read from the source with ``ast`` (independently of import-linter, which ``make test`` also
runs), so a new cycle or a room missing from the contract fails here too.
"""

import ast
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "blurmap"
PYPROJECT = PACKAGE.parents[1] / "pyproject.toml"


def _module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imports(path: Path) -> set[str]:
    """Absolute dotted names imported anywhere in ``path`` (function-level imports too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    return found


def _rooms() -> set[str]:
    return {p.stem for p in PACKAGE.iterdir() if (p.suffix == ".py" or (p / "__init__.py").is_file())} - {"__init__", "__main__"}


def _room_graph(ignored: set[tuple[str, str]]) -> dict[str, set[str]]:
    rooms = _rooms()
    graph = {r: set() for r in rooms}
    for path in PACKAGE.rglob("*.py"):
        src_module = ".".join(_module_name(path))
        src = _module_name(path)[1] if len(_module_name(path)) > 1 else None
        if src not in rooms:
            continue
        for target in _imports(path):
            parts = target.split(".")
            if parts[0] != "blurmap" or len(parts) < 2 or parts[1] not in rooms or parts[1] == src:
                continue
            if any(src_module == a and (target == b or target.startswith(b + ".")) for a, b in ignored):
                continue
            graph[src].add(parts[1])
    return graph


def _contract() -> dict:
    config = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]
    (layers,) = [c for c in config["contracts"] if c["type"] == "layers"]
    return layers


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one room (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _ignored(contract) -> set[tuple[str, str]]:
    return {tuple(s.strip() for s in line.split("->")) for line in contract.get("ignore_imports", [])}


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_rooms():
    assert _cycles(_room_graph(_ignored(_contract()))) == []


def test_every_room_stands_on_a_floor():
    floors = [{m.strip().removeprefix("blurmap.") for m in layer.split("|")} for layer in _contract()["layers"]]
    on_a_floor = set().union(*floors)
    assert _rooms() - on_a_floor == set(), "add the new room to the floors in pyproject.toml and docs/design.md"


def test_imports_go_down_the_floors():
    contract = _contract()
    level = {}
    for depth, layer in enumerate(reversed(contract["layers"])):
        for m in layer.split("|"):
            level[m.strip().removeprefix("blurmap.")] = depth
    graph = _room_graph(_ignored(contract))
    upward = sorted((a, b) for a, targets in graph.items() for b in targets if a in level and b in level and level[b] >= level[a])
    assert upward == []
