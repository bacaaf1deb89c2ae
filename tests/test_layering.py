"""The import graph of robust_gates (STYLE, Architecture): no module imports itself through a loop,
each layer imports only those to its left (theory <- simulations <- figures <- paper_repro), and
only the Lambda sets themselves branch on the kind of Lambda.

The graph is read from the source, not from a running interpreter: every ``import`` and
``from ... import`` statement of every module under the package folder, including those inside
functions (a lazy import is still a dependency), resolved to the modules of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import robust_gates

ROOT = Path(robust_gates.__file__).resolve().parent
PACKAGE = "robust_gates"
LAYERS = ("theory", "simulations", "figures", "paper_repro")
LAMBDA_KINDS = {"Simplex", "Box", "Polytope", "Hull"}
LAMBDA_HOME = "theory/lambda_sets.py"


def _module_files() -> dict[str, Path]:
    """``{dotted module name: file}`` for the package's own modules (root and the four layers)."""
    files = [ROOT / "__init__.py", ROOT / "__main__.py"]
    for layer in LAYERS:
        files += sorted((ROOT / layer).rglob("*.py"))
    out = {}
    for f in files:
        if not f.exists() or "__pycache__" in f.parts:
            continue
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([PACKAGE, *parts])] = f
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules that module ``name`` (file ``path``) imports, anywhere in its body."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod for a in node.names]
        else:
            continue
        for t in targets:
            # ``import a.b.c`` depends on the deepest of a.b.c, a.b, a that is ours
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def import_graph() -> dict[str, set[str]]:
    files = _module_files()
    known = set(files)
    return {name: _imports(name, path, known) for name, path in files.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def _layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_cycle_finder_catches_a_planted_loop():
    """The checker itself: a planted loop a -> b -> c -> a is found, a chain is not."""
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_graph_covers_the_package():
    """The walk finds the layers' modules and resolves relative imports to them."""
    graph = import_graph()
    assert {"robust_gates.theory", "robust_gates.simulations.statements",
            "robust_gates.paper_repro.cli"} <= set(graph)
    assert "robust_gates.simulations.statements.registry" in graph["robust_gates.simulations.statements"]


def test_no_import_cycle():
    """No module of robust_gates reaches itself through its imports."""
    cycles = find_cycles(import_graph())
    assert cycles == [], f"import loops: {cycles}"


def test_layers_import_only_to_their_left():
    """theory <- simulations <- figures <- paper_repro: no module imports a layer to its right."""
    order = {layer: i for i, layer in enumerate(LAYERS)}
    bad = []
    for src, targets in import_graph().items():
        a = _layer(src)
        for dst in targets:
            b = _layer(dst)
            if a is not None and b is not None and order[b] > order[a]:
                bad.append(f"{src} -> {dst}")
    assert bad == [], "imports from a layer to its right:\n" + "\n".join(sorted(bad))


def _lambda_kind_branches(path: Path) -> list[int]:
    """Lines of ``isinstance(x, K)`` calls where ``K`` names a kind of Lambda set."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance" \
                and len(node.args) == 2:
            kinds = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            names = {k.id if isinstance(k, ast.Name) else getattr(k, "attr", None) for k in kinds}
            if names & LAMBDA_KINDS:
                lines.append(node.lineno)
    return lines


def test_only_lambda_sets_branch_on_the_kind_of_lambda():
    """STYLE (one Lambda interface): ``isinstance(..., Simplex/Box/Polytope/Hull)`` appears only
    in theory/lambda_sets.py; algorithms ask the Lambda set instead."""
    bad = []
    for path in _module_files().values():
        rel = path.relative_to(ROOT).as_posix()
        if rel != LAMBDA_HOME:
            bad += [f"{rel}:{line}" for line in _lambda_kind_branches(path)]
    assert bad == [], "branches on the kind of Lambda outside lambda_sets:\n" + "\n".join(bad)
