"""A torchrun entry point for tests/test_train_ddp.py (no tests here).

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/_ddp_worker.py SPEC.json

SPEC is a list of jobs run in order by every rank; each job is ``{"train": {...}}`` (keyword
arguments of ``yolov4.train``, with ``"data": [n_train, seed]`` for in-memory squares and
``"model"`` a .cfg path), ``{"classify": {...}}`` (keyword arguments of the classifier's
``train``), ``{"copy": [src, dst]}`` (rank 0 copies a file, then all ranks meet),
or ``{"fail": {"rank": r, "call": k}}`` (rank r raises at its k-th loss evaluation of the next
train job).
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from test_train_helpers import SquaresDataset  # noqa: E402

import torch  # noqa: E402
from torch.distributed.elastic.multiprocessing.errors import record  # noqa: E402

import yolov4  # noqa: E402
from yolov4.engine import distributed as dist  # noqa: E402
from yolov4.engine import task as task_mod  # noqa: E402


def _fail_at(rank: int, call: int) -> None:
    """Make this process's loss raise at its ``call``-th evaluation when it is ``rank``."""
    real = task_mod.YoloLoss

    class Failing(real):
        calls = 0

        def __call__(self, outputs, targets, input_hw):
            Failing.calls += 1
            if dist.launched_world().rank == rank and Failing.calls == call:
                raise RuntimeError(f"injected failure on rank {rank} at loss call {call}")
            return super().__call__(outputs, targets, input_hw)

    task_mod.YoloLoss = Failing


@record
def main() -> None:
    torch.set_num_threads(1)
    jobs = json.loads(Path(sys.argv[1]).read_text())
    for job in jobs:
        if "fail" in job:
            _fail_at(int(job["fail"]["rank"]), int(job["fail"]["call"]))
        elif "classify" in job:
            from yolov4.engine.classify_api import train as train_classifier
            train_classifier(verbose=False, log=lambda s: None, **job["classify"])
        elif "copy" in job:
            src, dst = job["copy"]
            if dist.launched_world().rank == 0:
                Path(dst).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(src, dst)
        else:
            kw = dict(job["train"])
            n, seed = kw.pop("data")
            data = (SquaresDataset(n, seed=seed), None)
            yolov4.train(data=data, verbose=False, log=lambda s: None, **kw)
    dist.teardown()


if __name__ == "__main__":
    main()
