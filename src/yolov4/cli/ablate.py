"""``yolov4 ablate``: plan rows x seeds, a table with paired confidence intervals (docs/TUNING.md)."""
from __future__ import annotations

import argparse
from typing import Any

from .tuneopts import add_train_options, train_kwargs

EPILOG = """\
plan: PLAN.yaml maps a row name to its overrides (hyp.yaml keys, builder options such as
  sam: true, hyp: FILE, anchors: fit), e.g.
    baseline: {}
    no-mosaic: {mosaic: 0}
  The first row (or the one named baseline) is the baseline. --plan paper is the YOLOv4
  paper's Table 4 (+ SAM of Table 5) with our switch names; its GA rows use --ga-hyp.
table: mean +- std of AP50 and AP (percent) per row over the seeds, and the difference to the
  baseline with a paired Student-t 95% interval; ablate_table.md/.csv and plots/ablate.png.
resume: --resume DIR [--seeds S] runs only the missing row x seed trials.
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "ablate", help="ablation table: plan rows x seeds, paired CIs against the baseline",
        description="Train every row of an ablation plan for several seeds and tabulate AP50/AP "
                    "with paired confidence intervals against the baseline row.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_train_options(p)
    p.add_argument("--plan", default="paper", help="PLAN.yaml or 'paper' (default)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per row (default 2)")
    p.add_argument("--ga-hyp", metavar="FILE.yaml",
                   help="the evolved hyp file for the paper plan's GA rows (best_hyp.yaml)")
    p.add_argument("--out", default="runs/ablate", help="run directory (default runs/ablate)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tune.ablate import ablate

    kwargs, overrides = train_kwargs(args)
    result = ablate(plan=args.plan, seeds=args.seeds, ga_hyp=args.ga_hyp, out=args.out,
                    **kwargs, **overrides)
    print(f"table: {result.markdown}  records: {result.csv}")
    return 0
