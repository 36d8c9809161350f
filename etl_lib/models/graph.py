"""How models depend on datasets and on each other: references, cycles, build order, selection."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from etl_lib.models.spec import ModelSpec
from etl_lib.spec.model import _nearest


def graph_problems(models: Sequence[ModelSpec], datasets: Iterable[str]) -> list[str]:
    """Every problem of the graph, a line each: a model named like a dataset, a read of an
    unknown table, a cycle."""
    known_datasets = set(datasets)
    names = [m.model for m in models]
    tables = sorted(known_datasets | set(names))
    problems = [
        f"model {m.model}: a dataset has the same name; rename the model" for m in models if m.model in known_datasets
    ]
    for model in models:
        for name in model.reads:
            if name not in known_datasets and name not in names:
                problems.append(
                    f"model {model.model}: reads: unknown table {name!r}{_nearest(name, tables)}; "
                    f"known: {', '.join(tables)} (give its spec with --spec, or its model in --models)"
                )
    cycle = find_cycle(models)
    if cycle:
        problems.append(f"models read each other in a cycle: {' -> '.join(cycle)}")
    return problems


def find_cycle(models: Sequence[ModelSpec]) -> list[str]:
    """One cycle among the models' reads (``[a, b, a]``), or ``[]``."""
    reads = {m.model: [r for r in m.reads if r != m.model] for m in models}
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for nxt in sorted(reads.get(name, [])):
            if nxt not in reads:
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return []

    for name in sorted(reads):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return []


def build_order(models: Sequence[ModelSpec]) -> list[ModelSpec]:
    """The models, each after the models it reads (ties by name): the order they are built in.
    The graph must be free of cycles (``graph_problems``)."""
    by_name = {m.model: m for m in models}
    done: list[ModelSpec] = []
    placed: set[str] = set()
    while len(done) < len(models):
        ready = sorted(
            name
            for name, model in by_name.items()
            if name not in placed and all(r in placed or r not in by_name for r in model.reads)
        )
        if not ready:
            raise ValueError("models read each other in a cycle")
        for name in ready:
            done.append(by_name[name])
            placed.add(name)
    return done


def downstream(models: Sequence[ModelSpec], tables: Iterable[str]) -> set[str]:
    """The models that read any of ``tables``, directly or through other models."""
    found: set[str] = set()
    frontier = set(tables)
    while frontier:
        reached = {m.model for m in models if m.model not in found and frontier & set(m.reads)}
        found |= reached
        frontier = reached
    return found


def upstream_models(models: Sequence[ModelSpec], names: Iterable[str]) -> set[str]:
    """The models that ``names`` read, directly or through other models (not ``names`` themselves)."""
    by_name = {m.model: m for m in models}
    found: set[str] = set()
    frontier = [r for n in names for r in by_name[n].reads if r in by_name]
    while frontier:
        name = frontier.pop()
        if name not in found:
            found.add(name)
            frontier += [r for r in by_name[name].reads if r in by_name]
    return found
