"""The shape of univar_core (docs/ARCHITECTURE.md): layers import downwards only, no import cycles,
no streamlit in the library. Read from the source with ast: nothing is imported, so this is instant."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "univar_core"
# Lower layers never import higher ones (at module level; imports inside functions are lazy loads of
# heavy code and may point anywhere). A package not listed counts as the top layer.
LAYERS = {
    "paths": 0, "_atomic": 0, "_lazy": 0, "neighbours": 0,
    "data": 1,
    "encoders": 2,
    "maps": 3, "analysis": 3, "training": 3, "collect": 3,
    "figures": 4,
}
TOP = max(LAYERS.values()) + 1


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: the module body and its if/try blocks."""
    out, todo = [], list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(node)
        elif isinstance(node, ast.If):
            if not (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
                todo += node.body + node.orelse
        elif isinstance(node, ast.Try):
            todo += node.body + node.orelse + node.finalbody + [s for h in node.handlers for s in h.body]
    return out


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module -> univar_core modules it imports at module level, module -> every top-level package it imports)."""
    edges: dict[str, set[str]] = {}
    packages: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges[name], packages[name] = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                packages[name].update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                packages[name].add(node.module.split(".")[0])
        for node in _top_level_imports(tree):
            targets = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and node.module == "univar_core":  # from univar_core import x
                targets = [f"univar_core.{a.name}" for a in node.names]
            edges[name].update(t for t in targets if t.startswith("univar_core."))
    return edges, packages


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], TOP) if len(parts) > 1 else TOP


def test_no_module_of_the_library_imports_streamlit():
    _, packages = _graph()
    assert [m for m, pkgs in packages.items() if "streamlit" in pkgs] == []


def test_layers_import_downwards_only():
    edges, _ = _graph()
    upward = [f"{m} -> {t}" for m, targets in edges.items() for t in targets
              if m.split(".")[1:2] != t.split(".")[1:2] and _layer(t) >= _layer(m) and _layer(m) < TOP]
    assert upward == [], "module-level imports that point sideways or up (import inside the function, " \
                         "or move the code down a layer):\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    edges, _ = _graph()
    known = set(edges)

    def resolve(target: str) -> str | None:  # "univar_core.maps.build.X" -> the module that defines it
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target or None

    graph = {m: {r for t in ts if (r := resolve(t)) and r != m and not m.startswith(r + ".")}
             for m, ts in edges.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []
