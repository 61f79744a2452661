"""Training on several processes (torch.distributed, gloo on 127.0.0.1, 2 ranks via torchrun).

Oracles: one process on the same global batch (the same images, augmentations, random shapes
and SAT coins) gives the same weights and losses as 2 ranks; an uninterrupted run equals
stop + resume, across world sizes both ways; a failing rank ends the job with its error instead
of a hang. Every launch is bounded by a time-out.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_train_helpers import SquaresDataset, tiny_cfg  # noqa: E402

import yolov4  # noqa: E402
from yolov4.engine import distributed as dist  # noqa: E402
from yolov4.engine.checkpoint import load_checkpoint  # noqa: E402
from yolov4.errors import YoloError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
QUIET = dict(verbose=False, log=lambda s: None)
WORKER = Path(__file__).parent / "_ddp_worker.py"
SRC = Path(yolov4.__file__).resolve().parents[1]
#: A bound on each multi-process run: generous (a loaded 2-core machine runs these jobs several
#: times slower than an idle one), but a hang still ends the test.
TIMEOUT = 300.0


def _kill_tree(proc: subprocess.Popen, marker: str) -> None:
    """Kill torchrun's process group and every process whose command line holds ``marker``:
    torchrun starts its workers in sessions of their own, out of reach of ``killpg``."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
            except ProcessLookupError:
                pass


def run_bounded(cmd: list, tmp: Path, marker: str, timeout: float) -> subprocess.CompletedProcess:
    """Run ``cmd`` (torchrun and its ranks) with its output in files, not pipes (a rank left
    behind cannot hold the test), killing all of it after ``timeout`` seconds."""
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    out_path, err_path = tmp / f"{Path(marker).stem}.out", tmp / f"{Path(marker).stem}.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc, marker)
            proc.wait()
            pytest.fail(f"{' '.join(cmd[:6])} ... did not finish in {timeout} s (hang?):\n"
                        f"{err_path.read_text()[-3000:]}")
        finally:
            _kill_tree(proc, marker)      # no rank outlives its test
    return subprocess.CompletedProcess(cmd, proc.returncode, out_path.read_text(),
                                       err_path.read_text())


def torchrun(jobs: list, tmp: Path, nproc: int = 2, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run the worker's ``jobs`` on ``nproc`` ranks; the whole job is killed after ``timeout``
    seconds."""
    spec = tmp / f"jobs_{len(list(tmp.glob('jobs_*.json')))}.json"
    spec.write_text(json.dumps(jobs, default=str))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           str(nproc), "--monitor-interval", "0.2", str(WORKER), str(spec)]
    return run_bounded(cmd, tmp, str(spec), timeout)


def run_kwargs(cfg: Path, out: Path, **kw) -> dict:
    """2 epochs of 2 updates of batch 16 (2 subdivisions of 8: 4 images per rank and pass),
    with flips, jitter, random=1 shapes and SAT; no BN, so the batch split is exact."""
    return dict(model=str(cfg), out=str(out), max_batches=4, eval_interval=0, burn_in=1,
                adversarial_lr=0.05, seed=5, threads=1, plots=0, tensorboard=0, **kw)


def params(path: Path) -> dict:
    return load_checkpoint(path)["model"]


def assert_same_weights(a: Path, b: Path, atol: float = 1e-5) -> None:
    sa, sb = params(a), params(b)
    assert sorted(sa) == sorted(sb)             # no wrapper prefix in any checkpoint
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=1e-4, atol=atol, msg=k)


def same_losses(a: Path, b: Path) -> None:
    """The runs' ``iterations.csv``: same iterations and input sizes, losses within 1e-5."""
    ra, rb = iteration_rows(a), iteration_rows(b)
    assert [(r["iteration"], r["size"]) for r in ra] == [(r["iteration"], r["size"]) for r in rb]
    for key in ("loss", "box", "obj", "cls", "lr"):
        assert [float(r[key]) for r in ra] == pytest.approx([float(r[key]) for r in rb],
                                                            rel=1e-5), key


def iteration_rows(run_dir: Path) -> list:
    import csv
    with (run_dir / "iterations.csv").open() as f:
        return list(csv.DictReader(f))


def test_two_ranks_equal_one_process_and_resume_across_world_sizes(tmp_path):
    cfg = tiny_cfg(tmp_path / "nobn.cfg", batch=16, subdivisions=2, lr=0.002, flip=1, bn=0,
                   jitter=0.2, random=1)
    data = (SquaresDataset(32, seed=1), None)
    # one process: straight, and stopped mid-epoch at update 3
    one = yolov4.train(data=data, **run_kwargs(cfg, tmp_path / "one"), **QUIET)
    yolov4.train(data=data, **{**run_kwargs(cfg, tmp_path / "one_stop"), "stop_after": 3}, **QUIET)
    ddp = dict(data=[32, 1])
    jobs = [
        {"train": {**ddp, **run_kwargs(cfg, tmp_path / "ddp")}},
        {"train": {**ddp, **run_kwargs(cfg, tmp_path / "ddp_stop"), "stop_after": 3}},
        {"copy": [tmp_path / "ddp_stop" / "last.pt", tmp_path / "ddp_to_one" / "last.pt"]},
        {"train": {**ddp, "resume": str(tmp_path / "ddp_stop" / "last.pt"), "stop_after": 0}},
        {"train": {**ddp, "resume": str(tmp_path / "one_stop" / "last.pt"), "stop_after": 0}},
    ]
    proc = torchrun(jobs, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # 2 ranks x 4 images = 1 process x 8 images per pass: the same update
    same_losses(tmp_path / "ddp", tmp_path / "one")
    # random=1: Darknet's largest shape (1.4 x 64 -> 128) in the first and last blocks
    assert {r["size"] for r in iteration_rows(tmp_path / "ddp")} == {"128x128"}
    assert_same_weights(tmp_path / "ddp" / "last.pt", one.last)
    # resume under DDP = the uninterrupted DDP run
    assert_same_weights(tmp_path / "ddp_stop" / "last.pt", tmp_path / "ddp" / "last.pt")
    same_losses(tmp_path / "ddp_stop", tmp_path / "ddp")
    # a single-process run resumed under DDP (the reverse)
    assert_same_weights(tmp_path / "one_stop" / "last.pt", one.last)
    # the DDP checkpoint loads and resumes in one process
    ck = load_checkpoint(tmp_path / "ddp_to_one" / "last.pt")
    assert ck["iteration"] == 3 and not any(k.startswith("module.") for k in ck["model"])
    net = yolov4.Darknet.from_cfg(cfg)
    net.load_state_dict(ck["model"])
    resumed = yolov4.train(data=data, resume=tmp_path / "ddp_to_one" / "last.pt", stop_after=0,
                           plots=0, **QUIET)
    assert resumed.iterations == 4
    assert_same_weights(resumed.last, one.last)


def test_sync_bn_makes_two_ranks_equal_one_process_with_batch_norm(tmp_path):
    """sync_bn=1 (gloo: the all-reduce BN): statistics of the whole global mini-batch, so 2
    ranks with BN give one process's losses, weights and running statistics."""
    cfg = tiny_cfg(tmp_path / "bn.cfg", batch=16, subdivisions=2, lr=0.002, flip=1, bn=1,
                   jitter=0.2)
    kw = {k: v for k, v in run_kwargs(cfg, tmp_path / "one").items() if k != "adversarial_lr"}
    one = yolov4.train(data=(SquaresDataset(32, seed=1), None), **kw, **QUIET)
    proc = torchrun([{"train": {**kw, "data": [32, 1], "out": str(tmp_path / "two"),
                                "sync_bn": 1}},
                     {"train": {**kw, "data": [32, 1], "out": str(tmp_path / "local")}}],
                    tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    same_losses(tmp_path / "two", tmp_path / "one")
    assert_same_weights(tmp_path / "two" / "last.pt", one.last)       # running stats included
    local = [float(r["loss"]) for r in iteration_rows(tmp_path / "local")]
    assert local[1:] != pytest.approx([float(r["loss"]) for r in one.losses][1:], rel=1e-5)


CLASSIFIER = """
[net]
batch=8
subdivisions=2
width=32
height=32
channels=3
learning_rate=0.01
momentum=0.9
decay=0.0005
policy=constant
max_batches=100

[convolutional]
filters=8
size=3
stride=2
pad=1
activation=leaky

[convolutional]
filters=3
size=1
stride=1
pad=0
activation=linear

[avgpool]

[softmax]
groups=1
"""


def test_a_classifier_trains_the_same_on_two_ranks(tmp_path):
    """The trainer's split is task-agnostic: the classification task (MixUp/CutMix/Mosaic
    drawn per item) gives one process's weights on 2 ranks too."""
    from yolov4.data.classify_synth import generate_classes
    from yolov4.engine.classify_api import train as train_classifier
    data = generate_classes(tmp_path / "data", images=24, classes=3, size=32)
    (tmp_path / "cls.cfg").write_text(CLASSIFIER)
    kw = dict(data=str(data), model=str(tmp_path / "cls.cfg"), max_batches=3, threads=1,
              plots=0, tensorboard=0, mosaic=1, cutmix=1, eval_interval=0, seed=2)
    one = train_classifier(out=tmp_path / "one", verbose=False, log=lambda s: None, **kw)
    proc = torchrun([{"classify": {**kw, "out": str(tmp_path / "two")}}], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ra, rb = iteration_rows(tmp_path / "one"), iteration_rows(tmp_path / "two")
    assert [float(r["loss"]) for r in rb] == pytest.approx([float(r["loss"]) for r in ra],
                                                           rel=1e-5)
    assert_same_weights(tmp_path / "two" / "last.pt", one.last)


def test_a_failing_rank_ends_the_job_with_its_error(tmp_path):
    cfg = tiny_cfg(tmp_path / "tiny.cfg", batch=8, subdivisions=2, bn=0)
    jobs = [{"fail": {"rank": 1, "call": 3}},
            {"train": {"data": [16, 0], "model": str(cfg), "out": str(tmp_path / "run"),
                       "max_batches": 6, "eval_interval": 0, "threads": 1, "plots": 0}}]
    proc = torchrun(jobs, tmp_path)   # a hang fails the test after TIMEOUT
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert "injected failure on rank 1 at loss call 3" in text
    assert "rank: 1" in text                      # torchrun's summary names the failing rank


def test_batch_that_does_not_split_over_the_ranks_says_so():
    info = dist.DistInfo(rank=1, world=4)
    assert dist.check_split(64, 8, info) == 2
    with pytest.raises(YoloError, match=r"batch=24 / subdivisions=2 = 12 images per mini-batch "
                                        r"cannot be split over 8 processes.*multiple of .* = 16"):
        dist.check_split(24, 2, dist.DistInfo(rank=0, world=8))
    batch = [("item", p) for p in range(8)]
    assert dist.rank_slice(batch, info) == batch[2:4]
    assert sum((dist.rank_slice(batch, dist.DistInfo(r, 4)) for r in range(4)), []) == batch


def test_wrapper_prefixes_are_stripped_when_loading():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    state = {f"module._orig_mod.{k}": v for k, v in net.state_dict().items()}
    from yolov4.engine.checkpoint import load_model_state
    other = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    load_model_state(other, state, "x.pt")
    torch.testing.assert_close(other[0].weight, net[0].weight)


def test_devices_and_the_torchrun_command():
    assert dist.parse_devices("0,1,2,3") == ("cuda", 4, "0,1,2,3")
    assert dist.parse_devices("cpu:2") == ("cpu", 2, None)
    for bad in ("0,0", "a,b", "cpu:0", ""):
        with pytest.raises(YoloError, match="--devices"):
            dist.parse_devices(bad)
    cmd = dist.torchrun_command(2, ["train", "--data", "d.yaml"])
    assert cmd[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                       "-m", "yolov4", "train", "--data", "d.yaml"]
    multi = dist.torchrun_command(8, ["train"], extra=["--nnodes", "2", "--node_rank", "0",
                                                       "--rdzv_endpoint", "host:29500"])
    assert "--standalone" not in multi and multi[3:9] == ["--nnodes", "2", "--node_rank", "0",
                                                          "--rdzv_endpoint", "host:29500"]


def write_yolo_dataset(root: Path, n_train: int, n_val: int) -> Path:
    """SquaresDataset images as a YOLO layout (``images/``, ``labels/``, ``data.yaml``)."""
    import cv2
    for split, n, seed in (("train", n_train, 1), ("val", n_val, 2)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for k, s in enumerate(SquaresDataset(n, seed=seed).samples):
            h, w = s.image.shape[:2]
            cv2.imwrite(str(root / "images" / split / f"{k}.png"),
                        cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
            lines = [f"{c} {(b[0] + b[2]) / 2 / w} {(b[1] + b[3]) / 2 / h} {(b[2] - b[0]) / w} "
                     f"{(b[3] - b[1]) / h}" for b, c in zip(s.boxes, s.labels)]
            (root / "labels" / split / f"{k}.txt").write_text("\n".join(lines) + "\n")
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images/train\nval: images/val\n"
                                    f"names: [red, blue]\n")
    return root / "data.yaml"


def test_cli_devices_launches_the_ranks_and_validates_on_rank_0(tmp_path):
    data = write_yolo_dataset(tmp_path / "squares", 16, 4)
    cfg = tiny_cfg(tmp_path / "tiny.cfg", batch=8, subdivisions=2)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "yolov4", "train", "--devices", "cpu:2", "--data", str(data),
           "--model", str(cfg), "--max-batches", "2", "--out", str(out), "--quiet",
           "threads=1", "plots=0", "tensorboard=0", "max_val_images=4"]
    proc = run_bounded(cmd, tmp_path, str(out), TIMEOUT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("done: 2 iterations") == 1              # rank 0 speaks alone
    assert "x 2 processes (2 images per mini-batch each)" in proc.stdout
    ck = load_checkpoint(out / "last.pt")
    assert ck["iteration"] == 2 and ck["history"][-1]["mAP50"] != ""   # validated
    assert (out / "model.weights").stat().st_size > 0
    rows = iteration_rows(out)
    assert [r["iteration"] for r in rows] == ["1", "2"]              # one row per update


def test_ddp_looks_for_unused_parameters_only_with_stopbackward(tmp_path):
    cfg = tiny_cfg(tmp_path / "tiny.cfg")
    assert not dist.has_unused_parameters(yolov4.Darknet.from_cfg(cfg))
    text = cfg.read_text().replace("[maxpool]\nsize=2\nstride=2\n", "[maxpool]\nsize=2\nstride=2\n"
                                   "stopbackward=1\n", 1)
    (tmp_path / "stop.cfg").write_text(text)
    assert dist.has_unused_parameters(yolov4.Darknet.from_cfg(tmp_path / "stop.cfg"))
