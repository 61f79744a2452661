"""``yolov4 evolve``: search hyperparameters with a genetic algorithm (docs/TUNING.md)."""
from __future__ import annotations

import argparse
from typing import Any

from .tuneopts import add_train_options, train_kwargs

EPILOG = """\
genes: the hyperparameters with an 'evolve: [min, max, gain]' comment in yolov4/engine/hyp.yaml
  (--genes restricts them; keys you set with key=value are fixed, not searched).
GA: trial 0 is the base run; each later trial mutates a parent drawn from the 5 best trials
  weighted by fitness (yolov5's rule, seeded by seed=N). --trials is the total: resuming with a
  larger number runs only the missing trials.
outputs (--out DIR): evolve.csv (one row per trial), best_hyp.yaml (use with yolov4 train
  --hyp), best/ (the best trial's weights), plots/, trials/NNNN/ (each run's log and CSVs).
example:
  yolov4 evolve --data shapes/data.yaml --model yolov4-tiny --width-multiple 0.5 --size 192 \\
      --batch 16 --iterations 300 --trials 30 --out runs/evolve
on a Ray cluster (pip install "yolov4[tune]"; --out on a filesystem every node shares; trials
  proposed in batches of --ray-parallel, each from the records of the earlier batches):
  yolov4 evolve --data /shared/data.yaml --out /shared/runs/evolve --trials 64 --ray auto --ray-gpus 1
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "evolve", help="evolve hyperparameters (genetic algorithm, one training per trial)",
        description="Search the hyperparameters of hyp.yaml with a genetic algorithm: every "
                    "trial is an isolated training run recorded in evolve.csv.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_options(p)
    p.add_argument("--trials", type=int, default=10, help="total number of trials (default 10)")
    p.add_argument("--genes", metavar="a,b,...", help="search only these genes")
    p.add_argument("--parent", choices=("single", "weighted"), default="single",
                   help="parent rule: one of the best 5 drawn by fitness, or their blend")
    p.add_argument("--out", default="runs/evolve", help="run directory (default runs/evolve)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tune.evolve import evolve
    from ..tune.genes import parse_gene_names

    kwargs, overrides = train_kwargs(args)
    result = evolve(trials=args.trials, genes=parse_gene_names(args.genes), out=args.out,
                    parent=args.parent, **kwargs, **overrides)
    base = "—" if result.base_fitness is None else f"{result.base_fitness:.4f}"
    print(f"best: trial {result.best_trial} fitness {result.best_fitness:.4f} (base run {base})")
    if result.best_hyp is not None:
        print(f"hyperparameters: {result.best_hyp}")
    if result.best_weights is not None:
        print(f"weights: {result.best_weights}")
    print(f"records: {result.csv}")
    return 0
