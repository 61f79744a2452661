"""The genetic algorithm of ``yolov4 evolve`` (yolov5's ``train.py --evolve`` rule).

For trial ``i`` the random generator is ``numpy.random.default_rng([seed, i])``, so a proposal
depends only on the seed, the trial number and the records it sees (sequential runs are
reproducible; with parallel devices the records seen depend on which trials have finished).

1. **Trial 0** is the base run itself (no mutation): the reference every later trial is
   compared with.
2. **Parent selection**: the ``top`` (5) recorded trials with the highest fitness (failed and
   NaN trials count with fitness 0), weighted by ``w = fitness - min(fitness) + 1e-6``.
   ``parent="single"`` draws one of them with probability ``w / sum(w)``;
   ``parent="weighted"`` takes their ``w``-weighted mean, gene by gene (a blend crossover).
   With no records yet the parent is the base.
3. **Mutation**, for every gene at once: ``m = U(0,1)^n < 0.8`` picks genes (probability
   ``prob``), ``r = U(0,1)`` is one scale for the whole child, and each picked gene's factor is
   ``f = clip(gain x N(0,1) x r x 0.2 + 1, 0.3, 3)``. A gene at value ``x`` becomes ``x * f``; a
   gene at 0 (where a factor cannot move it) becomes ``(f - 1) x (max - min)`` instead. The
   result is clipped to the gene's bounds (and rounded for ``int`` genes). A ``switch`` gene
   (0/1) flips when picked and a further ``U(0,1) < gain``. Genes with gain 0 are never
   touched. Draws repeat until at least one gene changed.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .genes import Gene

#: The constants of the rule (yolov5's): per-gene mutation probability, scale, factor clip.
MUTATION_PROB = 0.8
SIGMA = 0.2
FACTOR_CLIP = (0.3, 3.0)
TOP = 5
PARENT_RULES = ("single", "weighted")


def trial_rng(seed: int, trial: int) -> np.random.Generator:
    """The generator of trial ``trial``'s proposal."""
    return np.random.default_rng([int(seed), int(trial)])


def select_parent(records: Sequence[Mapping[str, float]], genes: Mapping[str, Gene],
                  rng: np.random.Generator, rule: str = "single", top: int = TOP
                  ) -> Tuple[Dict[str, float], Optional[int]]:
    """Parent gene values from ``records`` (each with ``fitness``, ``trial`` and every gene),
    and the parent trial number (``None`` for a weighted blend)."""
    if rule not in PARENT_RULES:
        raise ValueError(f"parent rule '{rule}': choose one of {', '.join(PARENT_RULES)}")
    ranked = sorted(records, key=lambda r: (-float(r.get("fitness") or 0.0), int(r["trial"])))
    best = ranked[:max(1, top)]
    fit = np.array([float(r.get("fitness") or 0.0) for r in best])
    w = fit - fit.min() + 1e-6
    if rule == "single":
        k = int(rng.choice(len(best), p=w / w.sum()))
        return {n: float(best[k][n]) for n in genes}, int(best[k]["trial"])
    x = np.array([[float(r[n]) for n in genes] for r in best])
    mean = (x * w[:, None]).sum(0) / w.sum()
    return {n: float(v) for n, v in zip(genes, mean)}, None


def mutate(parent: Mapping[str, float], genes: Mapping[str, Gene], rng: np.random.Generator,
           prob: float = MUTATION_PROB, sigma: float = SIGMA,
           factor_clip: Tuple[float, float] = FACTOR_CLIP, tries: int = 1000
           ) -> Dict[str, float]:
    """A mutated copy of ``parent`` (see the module docstring for the rule)."""
    names: List[str] = list(genes)
    gain = np.array([genes[n].gain for n in names], np.float64)
    child = dict(parent)
    if not (gain > 0).any():
        return child
    for _ in range(tries):
        picked = rng.random(len(names)) < prob
        factor = (gain * picked * rng.standard_normal(len(names)) * rng.random() * sigma + 1)
        factor = factor.clip(*factor_clip)
        flips = rng.random(len(names))
        child = dict(parent)
        for i, name in enumerate(names):
            gene, x = genes[name], float(parent[name])
            if gene.gain == 0:
                continue
            if gene.kind == "switch":
                value = 1.0 - x if picked[i] and flips[i] < gene.gain else x
            elif x == 0:
                value = (factor[i] - 1.0) * (gene.high - gene.low)
            else:
                value = x * factor[i]
            child[name] = gene.clip(value)
        if any(child[n] != parent[n] for n in names):
            return child
    return child


def propose(trial: int, records: Sequence[Mapping[str, float]], base: Mapping[str, float],
            genes: Mapping[str, Gene], seed: int, rule: str = "single"
            ) -> Tuple[Dict[str, float], str]:
    """Gene values for trial ``trial`` and where they came from (``base``, ``mutate N`` or
    ``mutate blend``)."""
    if trial == 0:
        return dict(base), "base"
    rng = trial_rng(seed, trial)
    if records:
        parent, which = select_parent(records, genes, rng, rule)
        origin = f"mutate {which}" if which is not None else "mutate blend"
    else:
        parent, origin = dict(base), "mutate base"
    return mutate(parent, genes, rng), origin


__all__ = ["select_parent", "mutate", "propose", "trial_rng", "MUTATION_PROB", "SIGMA",
           "FACTOR_CLIP", "TOP", "PARENT_RULES"]
