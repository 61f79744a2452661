"""Multi-process training on ``torch.distributed``: process group, rank slices, collectives, launch.

One process per device (``torchrun --nproc_per_node N -m yolov4 train ...``, or ``yolov4 train
--devices 0,1,2,3`` which runs torchrun for you). NCCL on CUDA, gloo on CPU. Darknet's
semantics stay: ``batch`` is the **global** number of images per update. Each global mini-batch
of the single-process order (``batch / subdivisions`` images, the same indices, sizes and
per-item augmentation seeds) is cut into ``world`` equal slices, rank ``r`` trains on slice
``r`` (:func:`rank_slice`), so the images and augmentations of an update do not depend on the
number of processes. Each rank divides its summed loss by ``batch / world``: DDP *averages*
gradients over the ranks, so the update gets ``sum over all images / batch``, the
single-process gradient; the learning rate needs no rescaling.

Everything here is a no-op in a single process (``world == 1``): the trainer calls the same
helpers either way. No side effect at import.
"""
from __future__ import annotations

import datetime
import hashlib
import inspect
import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import YoloError

#: Wrapper prefixes that ``state_dict`` keys may carry (DDP, ``torch.compile``).
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands: ``rank`` of ``world`` processes, ``local_rank`` on its node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one that logs, validates, writes checkpoints and exports."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def launched_world() -> DistInfo:
    """What torchrun (or any ``env://`` launcher) announced in ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``."""
    env = os.environ
    world = int(env.get("WORLD_SIZE", "1") or 1)
    rank = int(env.get("RANK", "0") or 0)
    local = int(env.get("LOCAL_RANK", str(rank)) or 0)
    return DistInfo(rank, world, local)


def current() -> DistInfo:
    """This process's place in the initialised default process group (``DistInfo()`` if none)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return DistInfo()
    return DistInfo(torch.distributed.get_rank(), torch.distributed.get_world_size(),
                    launched_world().local_rank)


def setup(device: Optional[str] = None, timeout_s: float = 1800.0) -> Tuple[DistInfo, bool]:
    """Join the process group torchrun set up in the environment; ``(info, created)``.

    Nothing happens in a single process or when the group already exists (``created`` is then
    False). The group lives until :func:`teardown` (the command line calls it at the end):
    later trainings in the same processes reuse it, as torchrun's rendezvous store does not
    support joining twice. NCCL when this rank trains on CUDA (``device``
    None or ``cuda*`` with CUDA available; rank ``r`` uses ``cuda:LOCAL_RANK``), gloo otherwise.
    ``timeout_s`` bounds every collective: a rank that waits longer (a peer died or hangs)
    raises instead of hanging.
    """
    launched = launched_world()
    if not launched.enabled:
        return DistInfo(), False
    if not torch.distributed.is_available():
        raise YoloError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    if torch.distributed.is_initialized():
        return current(), False
    cuda = (device is None or str(device).startswith("cuda")) and torch.cuda.is_available()
    if str(device or "").startswith("cuda") and not torch.cuda.is_available():
        raise YoloError(f"device={device} but CUDA is not available on rank {launched.rank}")
    backend = "nccl" if cuda else "gloo"
    kw: dict = {}
    if cuda:
        if launched.local_rank >= torch.cuda.device_count():
            raise YoloError(f"rank {launched.rank}: LOCAL_RANK {launched.local_rank} but only "
                            f"{torch.cuda.device_count()} CUDA devices are visible")
        torch.cuda.set_device(launched.local_rank)
        if "device_id" in inspect.signature(torch.distributed.init_process_group).parameters:
            kw["device_id"] = torch.device("cuda", launched.local_rank)   # torch >= 2.3
    torch.distributed.init_process_group(
        backend, timeout=datetime.timedelta(seconds=float(timeout_s)), **kw)
    return current(), True


def teardown() -> None:
    """Destroy the default process group, if any (at the end of a process's last training)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def train_device(info: DistInfo, want: str) -> torch.device:
    """The device of this rank: under several processes any ``cuda[:N]`` is ``cuda:LOCAL_RANK``
    (one GPU per process; a resumed single-GPU run's ``cuda:0`` included)."""
    dev = torch.device(want)
    if info.enabled and dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
    return dev


def iteration_seed(seed: int, rank: int, iteration: int) -> int:
    """The torch seed of ``rank`` at update ``iteration`` (dropout and DropBlock masks): distinct
    per rank, and a function of the position only, so a resumed run draws the same masks."""
    digest = hashlib.sha256(f"{seed}:{rank}:{iteration}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def cpu_threads(info: DistInfo) -> int:
    """Intra-op threads per rank on CPU: the node's cores shared among its ranks."""
    local = int(os.environ.get("LOCAL_WORLD_SIZE", info.world) or info.world)
    return max(1, (os.cpu_count() or 1) // max(1, local))


# ---------------------------------------------------------------------- data
def rank_slice(batch: Sequence[Any], info: DistInfo) -> List[Any]:
    """Rank ``r``'s share of one global mini-batch: items ``[r*k, (r+1)*k)``, ``k = len/world``.

    The items keep their global position (their augmentation seed), so the union over the
    ranks is the single-process mini-batch.
    """
    if not info.enabled:
        return list(batch)
    k, rest = divmod(len(batch), info.world)
    if rest:
        raise YoloError(f"a mini-batch of {len(batch)} images cannot be split over "
                        f"{info.world} processes")
    return list(batch[info.rank * k:(info.rank + 1) * k])


def check_split(batch: int, subdivisions: int, info: DistInfo) -> int:
    """Images per rank per mini-batch, ``batch / (subdivisions * world)``; a clear error if not whole."""
    mini = batch // subdivisions
    if mini % info.world:
        raise YoloError(
            f"batch={batch} / subdivisions={subdivisions} = {mini} images per mini-batch cannot be "
            f"split over {info.world} processes: batch must be a multiple of subdivisions x "
            f"processes = {subdivisions * info.world} (e.g. batch={subdivisions * info.world * max(1, -(-mini // info.world))})")
    return mini // info.world


# ---------------------------------------------------------------------- collectives
def _tensor_device() -> torch.device:
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier(info: DistInfo) -> None:
    if info.enabled:
        torch.distributed.barrier()


@contextmanager
def main_first(info: DistInfo) -> Iterator[None]:
    """Rank 0 runs the block first (dataset scan, label cache, downloads); the others wait at a
    barrier (bounded by the process group's time-out, ``ddp_timeout``) and then run it, reading
    what rank 0 wrote."""
    if info.enabled and not info.main:
        torch.distributed.barrier()
    yield
    if info.enabled and info.main:
        torch.distributed.barrier()


def sum_over_ranks(values: Sequence[float], info: DistInfo) -> List[float]:
    """Element-wise sum of a list of floats over all ranks (float64; itself when alone)."""
    if not info.enabled:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_tensor_device())
    torch.distributed.all_reduce(t)
    return [float(v) for v in t.cpu()]


def broadcast(obj: Any, info: DistInfo, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank (picklable objects)."""
    if not info.enabled:
        return obj
    box = [obj if info.rank == src else None]
    torch.distributed.broadcast_object_list(box, src=src, device=_tensor_device())
    return box[0]


def gather(obj: Any, info: DistInfo) -> List[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
    if not info.enabled:
        return [obj]
    out: List[Any] = [None] * info.world
    torch.distributed.all_gather_object(out, obj)
    return out


def check_same(text: str, what: str, info: DistInfo) -> None:
    """Raise on every rank if ``text`` differs between ranks (e.g. the model cfg after anchors)."""
    if not info.enabled:
        return
    digests = gather(hashlib.sha256(text.encode()).hexdigest()[:16], info)
    if len(set(digests)) > 1:
        odd = [r for r, d in enumerate(digests) if d != digests[0]]
        raise YoloError(f"the {what} differs between processes (ranks {odd} vs rank 0); every "
                        f"rank must build the same run")


# ---------------------------------------------------------------------- model wrappers
def has_unused_parameters(net: nn.Module) -> bool:
    """Whether some parameters may get no gradient in an update: a Darknet cfg with
    ``stopbackward`` (layers before it are detached for a while). DDP must then look for them."""
    specs = getattr(net, "specs", None) or []
    return any(getattr(sp, "section", None) is not None
               and sp.section.get_int("stopbackward", 0) for sp in specs)


def wrap(net: nn.Module, device: torch.device, info: DistInfo) -> nn.Module:
    """``net`` inside ``DistributedDataParallel`` (itself when alone).

    ``broadcast_buffers=False``: rank 0's buffers are not pushed at every forward (CmBN keeps
    per-batch statistics in buffers; BN running statistics are rank 0's where they matter:
    validation and checkpoints). Construction broadcasts rank 0's parameters and buffers once.
    """
    if not info.enabled:
        return net
    from torch.nn.parallel import DistributedDataParallel as DDP
    ids = [device.index] if device.type == "cuda" else None
    no_sync = ({"forward_sync_buffers": False}        # the name since torch 2.13
               if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters
               else {"broadcast_buffers": False})
    return DDP(net, device_ids=ids, find_unused_parameters=has_unused_parameters(net), **no_sync)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DDP and/or ``torch.compile`` wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def strip_wrapper_prefixes(state: dict) -> dict:
    """A state dict with ``module.`` / ``_orig_mod.`` key prefixes removed (checkpoints of
    wrapped models written by other tools load into the bare network)."""
    out = {}
    for k, v in state.items():
        changed = True
        while changed:
            changed = False
            for p in WRAPPER_PREFIXES:
                if k.startswith(p):
                    k, changed = k[len(p):], True
        out[k] = v
    return out


# ---------------------------------------------------------------------- launching
def parse_devices(spec: str) -> Tuple[str, int, Optional[str]]:
    """``"0,1,2,3"`` -> ``("cuda", 4, "0,1,2,3")``; ``"cpu:2"`` -> ``("cpu", 2, None)``."""
    spec = str(spec).strip()
    if spec.startswith("cpu"):
        n = spec.partition(":")[2] or "1"
        if not n.isdigit() or int(n) < 1:
            raise YoloError(f"--devices {spec}: use cpu:N with N >= 1 processes")
        return "cpu", int(n), None
    ids = [s.strip() for s in spec.split(",") if s.strip()]
    if not ids or not all(s.isdigit() for s in ids) or len(set(ids)) != len(ids):
        raise YoloError(f"--devices {spec}: expected distinct CUDA indices like 0,1,2,3 or cpu:N")
    return "cuda", len(ids), ",".join(ids)


def torchrun_command(nproc: int, argv: Sequence[str], *, module: str = "yolov4",
                     extra: Sequence[str] = ()) -> List[str]:
    """``python -m torch.distributed.run --standalone --nproc_per_node N -m yolov4 ARGV``
    (``extra`` replaces ``--standalone``: e.g. torchrun's ``--nnodes/--node_rank/--rdzv_*``)."""
    rdzv = list(extra) if extra else ["--standalone"]
    return ([sys.executable, "-m", "torch.distributed.run", *rdzv, "--nproc_per_node",
             str(nproc), "-m", module, *argv])


def launch(devices: str, argv: Sequence[str], *, extra: Sequence[str] = ()) -> int:
    """Run ``yolov4 ARGV`` on every device of ``devices`` through torchrun; its exit code.

    torchrun tears all ranks down when one fails and prints which rank and why.
    """
    kind, n, ids = parse_devices(devices)
    env = dict(os.environ)
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise YoloError(f"--devices {devices}: CUDA is not available (use cpu:N for CPU processes)")
        env["CUDA_VISIBLE_DEVICES"] = ids or ""
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // n)))
    return subprocess.call(torchrun_command(n, argv, extra=extra), env=env)


__all__ = ["DistInfo", "launched_world", "current", "setup", "teardown", "train_device",
           "rank_slice", "check_split", "iteration_seed", "barrier", "main_first", "sum_over_ranks", "broadcast",
           "gather", "check_same", "wrap", "has_unused_parameters", "unwrap", "strip_wrapper_prefixes",
           "parse_devices", "torchrun_command", "launch",
           "cpu_threads"]
