"""The training loop: ``before_train / before_epoch / train_one_iter / after_iter / after_epoch / after_train``.

One *iteration* is one weight update, as in Darknet: ``subdivisions`` mini-batches of
``batch / subdivisions`` images each, the loss of each summed over its images and divided by the
cfg ``batch``, gradients accumulated, one optimiser step (``yolov4.engine.optim``). The lr of
update ``k`` is ``policy.rate(k)`` (Darknet's ``get_current_rate``). An *epoch* is
``len(train) // batch`` iterations, over a fresh permutation (``sampling=epoch``, the default
recipe) or of images drawn with replacement (``sampling=replacement``, Darknet's
``get_random_paths``, recipe=darknet). Darknet has no epochs; they exist for validation,
checkpoints and the progress bar.

Exact resume: the loader draws data order, augmentation and input sizes from
``(seed, epoch, mini-batch number)`` only, so a checkpoint stores the position
``(epoch, epoch_iter)`` plus the RNG states (python, numpy, torch, SAT coin), the model,
optimiser, EMA and AMP scaler; training N + M iterations straight or N, stop, resume, M gives
the same losses.

Several processes (``torchrun``; :mod:`yolov4.engine.distributed`): ``batch`` stays the global
images per update; each rank trains on its slice of every global mini-batch (the same images
and augmentations as one process), gradients are accumulated locally (``no_sync``) and
all-reduced once per update, and every decision that ends or skips an update is taken on the
sums over the ranks, so all ranks step, skip and stop together. Rank 0 alone logs, validates,
writes checkpoints (without any wrapper prefix) and exports; the others wait for it.
"""
from __future__ import annotations

import math
import random
import resource
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

import torch
from torch.utils.data import DataLoader

from ..darknet.cfg import write_cfg_text
from ..errors import YoloError
from . import distributed as dist
from .adversarial import adversarial_images, adversarial_lr_at, should_attack
from .ema import ModelEMA, build_ema
from .lr_policy import LRPolicy, apply_lr
from .optim import build_optimizer, count_nonfinite_grads, zero_nonfinite_grads
from .recipe import apply_head_priors, freeze_mask, momentum_at
from .runlog import RunLog
from .sync_bn import convert_sync_batchnorm
from .task import DetectionTask, Task
from .train_config import TrainConfig
from .train_state import TrainResult, export_final, restore_state, save_state


class TrainingError(YoloError):
    """Training cannot go on (non-finite loss, out of memory); the message says what to do."""


def choose_threads(requested: int) -> int:
    """``requested`` if > 0; else torch's default, or 1 on a machine already busy (load >= cores)."""
    if requested > 0:
        return requested
    import os
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0] >= cores
    except OSError:
        busy = False
    return 1 if busy else torch.get_num_threads()


class _Batches:
    """The loader's batch sampler for one epoch, from mini-batch ``skip`` on (cheap: indices
    only); under several processes each global mini-batch is cut to this rank's slice."""

    def __init__(self, sampler: Any, epoch: int, skip: int, limit: int,
                 info: dist.DistInfo = dist.DistInfo()) -> None:
        self.sampler, self.epoch, self.skip, self.limit = sampler, epoch, skip, limit
        self.info = info

    def __len__(self) -> int:
        return max(0, self.limit - self.skip)

    def __iter__(self) -> Iterator[list]:
        self.sampler.set_epoch(self.epoch)
        for k, batch in enumerate(self.sampler):
            if k >= self.limit:
                break
            if k >= self.skip:
                yield dist.rank_slice(batch, self.info)


class Trainer:
    """Trains a ``Darknet`` on a dataset with a resolved config (:class:`TrainConfig`, from
    ``yolov4.engine.config.resolve_config``; a mapping of hyp.yaml keys is converted). The
    ``task`` (:mod:`yolov4.engine.task`) supplies the loss, the loader and the validation;
    the default is the detector's."""

    def __init__(self, net: torch.nn.Module, cfg: Mapping[str, Any], train_set: Any,
                 val_set: Any = None, *, out_dir: str = "runs/train", device: Any = None,
                 checkpoint: Optional[Dict[str, Any]] = None, verbose: bool = True,
                 log: Callable[[str], None] = print, task: Optional[Task] = None) -> None:
        if not isinstance(cfg, TrainConfig):
            cfg = TrainConfig.from_mapping(cfg)
        self.cfg: TrainConfig = cfg
        self.task: Task = task if task is not None else DetectionTask()
        self.net, self.train_set, self.val_set = net, train_set, val_set
        self.out = Path(out_dir)
        self.dist = dist.current()              # rank 0 of 1 without torch.distributed
        self.verbose = verbose and self.dist.main
        self.log = log if self.dist.main else (lambda _: None)
        want = cfg.device or device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.device = dist.train_device(self.dist, str(want))
        self.batch, self.subdivisions = cfg.batch, cfg.subdivisions
        self.mini = self.batch // self.subdivisions
        self.rank_mini = dist.check_split(self.batch, self.subdivisions, self.dist)
        if not cfg.max_batches:
            raise YoloError("set max_batches or epochs (the model cfg has no max_batches)")
        self.max_batches = cfg.max_batches
        self.iters_per_epoch = len(train_set) // self.batch
        if self.iters_per_epoch < 1:
            raise YoloError(f"the training split has {len(train_set)} images, fewer than "
                            f"batch={self.batch}: lower --batch")
        self.epochs = math.ceil(self.max_batches / self.iters_per_epoch)
        self.iteration, self.epoch, self.epoch_iter = 0, 0, 0
        self.best_fitness, self.bad_evals, self.stop, self.stopped_early = float("-inf"), 0, False, False
        self.metrics: Dict[str, float] = {}
        self.resume_state = checkpoint
        self.darknet_recipe = cfg.recipe == "darknet"
        self.skipped = self.bad_updates = 0   # non-finite updates: in all, and in a row

    # ------------------------------------------------------------------ before_train
    def before_train(self) -> None:
        cfg, net = self.cfg, self.net.to(self.device)
        if self.device.type == "cpu":
            threads = choose_threads(cfg.threads or (dist.cpu_threads(self.dist)
                                                     if self.dist.enabled else 0))
            if threads != torch.get_num_threads():
                torch.set_num_threads(threads)
        net.train()
        if cfg.sync_bn and self.dist.enabled:
            n = convert_sync_batchnorm(net, self.device)
            self.log(f"sync_bn: {n} batch-norm layers use the statistics of all ranks")
        if cfg.channels_last:
            net.to(memory_format=torch.channels_last)
        self.loss_fn = self.task.build_loss(net)
        if cfg.bn_momentum is not None:       # Darknet's rolling average uses 0.01
            for m in net.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.momentum = cfg.bn_momentum
        self.optimizer = build_optimizer(net, cfg)
        self.policy = LRPolicy.from_config(cfg)
        # Darknet's EMA writes the weights back (ema apply): every rank keeps it. The every-step
        # EMA is only validated and exported: rank 0's alone.
        self.ema = build_ema(net, cfg) if self.dist.main or cfg.ema_mode == "darknet" else None
        self.amp_dtype = torch.bfloat16 if cfg.amp_dtype == "bfloat16" else torch.float16
        self.amp = bool(cfg.amp) and (self.device.type == "cuda"
                                      or self.amp_dtype == torch.bfloat16)
        fp16 = self.amp and self.amp_dtype == torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=True) if fp16 else None
        self.sat_rng = random.Random(cfg.seed)
        self.loader = self.task.train_loader(net, self.train_set, cfg, mini=self.mini,
                                             subdivisions=self.subdivisions,
                                             max_batches=self.max_batches)
        self.runlog = RunLog(self.out, tensorboard=bool(cfg.tensorboard),
                             loss_keys=self.task.loss_keys, extra_keys=self.task.extra_keys,
                             metric_keys=self.task.metric_keys, write=self.dist.main)
        self.cfg_text = write_cfg_text(net.sections)
        self.frozen = freeze_mask(net, cfg.fresh_layers)
        if self.resume_state is not None:
            self._restore(self.resume_state)
        else:
            line = apply_head_priors(net, cfg)
            if line:
                self.log(line)
        self.ddp = dist.wrap(net, self.device, self.dist)
        self.model = torch.compile(self.ddp) if cfg.compile else self.ddp  # the training forward
        self._banner()

    def _banner(self) -> None:
        cfg, net = self.cfg, self.net
        if cfg.freeze_loaded and self.frozen:
            self.log(f"the {len(self.frozen)} loaded parameter tensors hold still for the first "
                     f"{cfg.freeze_loaded} updates (freeze_loaded)")
        self.log(f"training {self.max_batches} iterations ({self.epochs} epochs of "
                 f"{self.iters_per_epoch}) of batch {self.batch} = {self.subdivisions} x "
                 f"{self.mini} images at {net.width}x{net.height} on {self.device}"
                 + (f" x {self.dist.world} processes ({self.rank_mini} images per mini-batch "
                    f"each)" if self.dist.enabled else "")
                 + (f" ({torch.get_num_threads()} threads)" if self.device.type == "cpu" else "")
                 + (f", resuming at iteration {self.iteration}" if self.iteration else "")
                 + f"; writing to {self.out}")
        note = self.task.settings_note(cfg, net.sections) if self.val_set is not None else None
        if note:
            self.log(note)

    # ------------------------------------------------------------------ the loop
    def train(self) -> TrainResult:
        threads = torch.get_num_threads()
        try:
            return self._train()
        finally:
            torch.set_num_threads(threads)

    def _train(self) -> TrainResult:
        self.before_train()
        try:
            while self.iteration < self.max_batches and not self.stop:
                self.before_epoch()
                for minis in self.epoch_batches():
                    self.train_one_iter(minis)
                    self.after_iter()
                    if self.stop or self.iteration >= self.max_batches:
                        break
                self.after_epoch()
        except KeyboardInterrupt:
            self.save("last.pt")   # rank 0 only
            self.log(f"interrupted: {self.out / 'last.pt'} holds iteration {self.iteration}; "
                     f"continue with --resume {self.out / 'last.pt'}")
            raise
        finally:
            if hasattr(self, "bar"):
                self.bar.close()
        return self.after_train()

    def before_epoch(self) -> None:
        from tqdm import tqdm
        self.bar = tqdm(total=self.iters_per_epoch, initial=self.epoch_iter,
                        desc=f"epoch {self.epoch + 1}/{self.epochs}", disable=not self.verbose,
                        dynamic_ncols=True, leave=True)
        self.epoch_losses: List[Dict[str, float]] = []
        self.t_iter = time.perf_counter()

    def epoch_batches(self) -> Iterator[list]:
        """Lists of ``subdivisions`` mini-batches ``(images, targets, paths)``, resuming mid-epoch."""
        s = self.subdivisions
        sampler = self.loader.batch_sampler
        limit = self.iters_per_epoch * s
        batches = _Batches(sampler, self.epoch, self.epoch_iter * s, limit, self.dist)
        loader = DataLoader(self.loader.dataset, batch_sampler=batches,
                            collate_fn=self.loader.collate_fn,
                            num_workers=self.loader.num_workers,
                            pin_memory=self.device.type == "cuda",
                            worker_init_fn=self.loader.worker_init_fn,
                            multiprocessing_context=self.loader.multiprocessing_context,
                            generator=torch.Generator())  # keeps the global RNG untouched
        group: list = []
        for mini in loader:
            group.append(mini)
            if len(group) == s:
                yield group
                group = []

    def train_one_iter(self, minis: list) -> None:
        """One Darknet iteration: ``subdivisions`` forward/backward passes, then one update."""
        net, cfg = self.net, self.cfg
        net.train()
        net.begin_batch()                                  # CmBN: a new batch begins
        net.set_iteration(self.iteration, self.max_batches)  # DropBlock ramp
        if self.dist.enabled:   # dropout masks: each rank its own stream, resumable exactly
            torch.manual_seed(dist.iteration_seed(cfg.seed, self.dist.rank, self.iteration))
        self.lr = self.policy.rate(self.iteration + 1)     # Darknet: batch_num is k on update k
        apply_lr(self.optimizer, self.lr)
        if cfg.warmup_momentum is not None and "momentum" in self.optimizer.defaults:
            m = momentum_at(cfg, self.iteration + 1)
            for group in self.optimizer.param_groups:
                group["momentum"] = m
        self.optimizer.zero_grad(set_to_none=True)
        sums = dict.fromkeys(("loss",) + self.task.loss_keys + self.task.extra_keys, 0.0)
        adv_lr = cfg.adversarial_lr if self.task.adversarial else 0.0
        bad_loss: Optional[float] = None
        # each rank's loss / (batch / world): DDP's average over the ranks is then the sum over
        # all images of the global batch divided by batch, as in one process
        norm = self.batch / self.dist.world
        for k, (images, targets, paths) in enumerate(minis):
            self.last_paths = list(paths)
            images = images.to(self.device, non_blocking=True)
            targets = targets.to(self.device, non_blocking=True)
            if cfg.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            input_hw = (int(images.shape[2]), int(images.shape[3]))
            try:
                if should_attack(adv_lr, self.iteration, cfg.burn_in, self.sat_rng):
                    lr_adv = adversarial_lr_at(adv_lr, self.iteration, self.max_batches)
                    images = adversarial_images(net, images, self.loss_fn.adversarial, lr_adv)
                with self._sync(k == len(minis) - 1):
                    with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp):
                        outputs = self.model(images)
                    total, parts = self.loss_fn(outputs, targets, input_hw)
                    value = float(total.detach())
                    if not math.isfinite(value):      # this update will be skipped
                        bad_loss = value if bad_loss is None else bad_loss
                        if not self.dist.enabled:
                            break                     # alone: no backward needed
                        total = total * 0.0           # the ranks still all-reduce together
                    scaled = total / norm
                    (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            except torch.OutOfMemoryError:
                raise TrainingError(self._oom_advice(input_hw)) from None
            if bad_loss is not None:
                continue
            sums["loss"] += value
            for key in sums:
                if key != "loss":
                    sums[key] += float(parts[key])
        if self.dist.enabled:
            sums, bad_loss = self._reduce(sums, bad_loss, input_hw)
        if self.iteration < cfg.freeze_loaded:
            for p in self.frozen:          # no gradient: SGD/Adam leave them (and momentum) alone
                p.grad = None
        self._step(bad_loss)
        self.iteration += 1
        self.epoch_iter += 1
        if self.ema is not None:
            event = self.ema.after_update(self.iteration)
            if event in ("init", "apply") and self.verbose:
                self.log(f"EMA {event} at iteration {self.iteration}")
        self.iter_losses = {k: v / self.batch for k, v in sums.items()}   # per image
        if bad_loss is not None:  # logged as what it was, not as the 0 of an empty sum
            self.iter_losses = {k: math.nan for k in sums}
            self.iter_losses["loss"] = bad_loss
        self.input_hw = input_hw

    def _sync(self, last: bool) -> Any:
        """Under DDP: no gradient all-reduce before the last mini-batch of the update."""
        if self.dist.enabled and not last:
            return self.ddp.no_sync()
        return nullcontext()

    def _reduce(self, sums: Dict[str, float], bad_loss: Optional[float],
                input_hw: tuple) -> tuple:
        """The loss sums over all ranks, and the update's bad loss if any rank had one.

        The same all-reduce checks that every rank trained at the same input size (sizes are
        a function of the seed and the mini-batch number, never drawn per process)."""
        keys = list(sums)
        h, w = (float(v) for v in input_hw)
        values = dist.sum_over_ranks([sums[k] for k in keys]
                                     + [h, h * h, w, w * w, float(bad_loss is not None),
                                        0.0 if bad_loss is None else bad_loss], self.dist)
        n = self.dist.world
        if values[-6:-2] != [n * h, n * h * h, n * w, n * w * w]:
            raise YoloError(f"rank {self.dist.rank} trained update {self.iteration + 1} at "
                            f"{int(w)}x{int(h)} but other ranks at another size: the task's "
                            f"loader must draw input sizes from (seed, mini-batch number) only")
        total = dict(zip(keys, values))
        if values[-2] > 0:
            bad = values[-1] if not math.isfinite(values[-1]) else math.nan
            self.last_paths = [p for ps in dist.gather(self.last_paths, self.dist) for p in ps]
            return total, bad
        return total, None

    def _step(self, bad_loss: Optional[float]) -> None:
        """Clip and apply the accumulated gradients, unless the update is not finite.

        A non-finite loss skips the update (no gradient was accumulated for it). Non-finite
        gradient values: ``recipe=darknet`` zeroes them and steps, as Darknet does with its
        updates; the default recipe skips the whole update. Under AMP the scaler skips steps with
        non-finite gradients itself. Each such update is counted and logged;
        ``nan_patience`` of them in a row stop training with the last good checkpoint kept.
        """
        net, cfg = self.net, self.cfg
        bad_grads = 0
        if bad_loss is None and self.scaler is None:
            bad_grads = (zero_nonfinite_grads(net) if self.darknet_recipe
                         else count_nonfinite_grads(net))
        skip = bad_loss is not None or (bad_grads > 0 and not self.darknet_recipe)
        if bad_loss is not None or bad_grads:
            self.bad_updates += 1
            self.skipped += int(skip)
            what = (f"loss is {bad_loss}" if bad_loss is not None
                    else f"{bad_grads} gradient values are not finite")
            done = ("update skipped" if skip else "they were set to 0 as Darknet does")
            self.log(f"iteration {self.iteration + 1}: {what}; {done} ({self.bad_updates} in a "
                     f"row, {self.skipped} skipped so far; images: "
                     f"{', '.join(self.last_paths[:4])})")
            patience = cfg.nan_patience or 1
            if self.bad_updates >= patience:
                self._non_finite(what, self.last_paths, patience)
        else:
            self.bad_updates = 0
        if skip:
            self.optimizer.zero_grad(set_to_none=True)
            return
        clip = cfg.grad_clip or 0.0
        if clip > 0:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()

    def after_iter(self) -> None:
        now = time.perf_counter()
        ips = self.batch / max(now - self.t_iter, 1e-9)
        self.t_iter = now
        row = dict(iteration=self.iteration, epoch=self.epoch + 1, lr=self.lr,
                   images_per_s=round(ips, 2), size=f"{self.input_hw[1]}x{self.input_hw[0]}",
                   **self.iter_losses)
        self.runlog.log_iteration(row)
        if math.isfinite(self.iter_losses["loss"]):  # a skipped update has no loss to average
            self.epoch_losses.append(self.iter_losses)
        if self.device.type == "cuda":
            mem = f"{torch.cuda.max_memory_allocated(self.device) / 1e9:.2f}G"
        else:
            mem = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f}G"
        l = self.iter_losses
        parts = " ".join(f"{k} {l[k]:.3f}" for k in self.task.loss_keys)
        self.bar.set_postfix_str(f"loss {l['loss']:.3f} ({parts}) lr {self.lr:.2e} {ips:.1f} "
                                 f"img/s {self.input_hw[1]}x{self.input_hw[0]} mem {mem}",
                                 refresh=False)
        self.bar.update(1)
        stop_after = self.cfg.stop_after
        if stop_after and self.iteration >= stop_after:
            self.stop = True

    def after_epoch(self) -> None:
        self.bar.close()
        finished = self.epoch_iter >= self.iters_per_epoch
        last = self.iteration >= self.max_batches
        if not finished and not last:         # stopped mid-epoch: keep the exact position
            self.save("last.pt")
            return
        if finished:
            self.epoch += 1
            self.epoch_iter = 0
        losses = {k: sum(d[k] for d in self.epoch_losses) / max(1, len(self.epoch_losses))
                  for k in ("loss",) + self.task.loss_keys}
        row: Dict[str, Any] = dict(epoch=self.epoch + (0 if finished else 1),
                                   iteration=self.iteration, lr=self.lr, **losses)
        every = self.cfg.eval_interval
        if self.val_set is not None and ((every and finished and self.epoch % every == 0) or last):
            row.update(self._validate_on_main())
        self.runlog.log_epoch(row)
        self.save("last.pt")
        period = self.cfg.save_period
        if period and self.epoch % period == 0:
            self.save(f"epoch_{self.epoch}.pt")

    # ------------------------------------------------------------------ validation
    def _validate_on_main(self) -> Dict[str, Any]:
        """Rank 0 validates (the others wait for it); its verdicts reach every rank."""
        out = self.validate() if self.dist.main else {}
        if self.dist.enabled:
            state = (out, self.metrics, self.best_fitness, self.bad_evals, self.stop,
                     self.stopped_early)
            (out, self.metrics, self.best_fitness, self.bad_evals, self.stop,
             self.stopped_early) = dist.broadcast(state, self.dist)
        return out

    def validate(self) -> Dict[str, Any]:
        model = self.ema.ema if isinstance(self.ema, ModelEMA) else self.net
        self.metrics = self.task.evaluate(model, self.val_set, self.cfg,
                                          batch_size=max(1, self.mini), device=self.device)
        fit = self.task.fitness(self.metrics)
        out = self.task.epoch_metrics(self.metrics)
        if fit >= self.best_fitness:          # Darknet saves _best when mAP >= best
            self.best_fitness, self.bad_evals = fit, 0
            self.save("best.pt")
        else:
            self.bad_evals += 1
        self.log(f"iteration {self.iteration} (epoch {self.epoch}): "
                 f"{self.task.describe(self.metrics)}  (best {self.best_fitness:.4f})")
        patience = self.cfg.patience
        if patience and self.bad_evals >= patience:
            self.log(f"early stopping: no better {self.task.metric_keys[0]} in {patience} "
                     f"validations")
            self.stop = self.stopped_early = True
        return out

    # ------------------------------------------------------------------ checkpoints and the end
    def _restore(self, ck: Dict[str, Any]) -> None:
        restore_state(self, ck)

    def save(self, name: str) -> Path:
        """Write a checkpoint atomically (rank 0); never over a good one with non-finite weights."""
        return save_state(self, name)

    def after_train(self) -> TrainResult:
        if self.stop and not self.stopped_early and self.iteration < self.max_batches:
            self.log(f"stopped at iteration {self.iteration}; resume with --resume {self.out / 'last.pt'}")
        if self.skipped:
            self.log(f"{self.skipped} of {self.iteration} updates were skipped: their loss or "
                     f"gradients were not finite")
        self.net.seen = self.iteration * self.batch
        main = self.dist.main
        if main:                               # rank 0 writes the files; the others wait
            export_final(self.net, self.ema, self.out)
            if self.cfg.plots:
                self.runlog.plots()
            self.runlog.close()
        dist.barrier(self.dist)
        best = self.out / "best.pt"
        return TrainResult(out_dir=self.out, last=self.out / "last.pt",
                           best=best if main and best.exists() else None,
                           cfg=self.out / "model.cfg", weights=self.out / "model.weights",
                           iterations=self.iteration, epochs=self.epoch, metrics=self.metrics,
                           best_fitness=self.best_fitness, stopped_early=self.stopped_early,
                           skipped_updates=self.skipped,
                           history=self.runlog.epochs if main else [],
                           losses=self.runlog.iterations if main else [])

    # ------------------------------------------------------------------ failures
    def _non_finite(self, what: str, paths: List[str], patience: int) -> None:
        self.runlog.close()
        last = self.out / "last.pt"
        keep = (f"the last good checkpoint {last} is kept" if last.exists()
                else "no checkpoint was written yet")
        shown = ", ".join(paths[:8]) + (f" and {len(paths) - 8} more" if len(paths) > 8 else "")
        again = f" ({patience} updates in a row)" if patience > 1 else ""
        raise TrainingError(
            f"{what} at iteration {self.iteration + 1}{again}; training stopped ({keep}). "
            f"Images of the last mini-batch: {shown}. Check their labels, or lower "
            f"learning_rate (now {self.lr:.3g}) / raise burn_in")

    def _oom_advice(self, input_hw: tuple) -> str:
        return (f"out of memory on {self.device} with mini-batch {self.mini} (batch={self.batch}, "
                f"subdivisions={self.subdivisions}) at {input_hw[1]}x{input_hw[0]}: raise "
                f"--subdivisions (e.g. {self.subdivisions * 2}; the update stays the same) or "
                f"lower --size; random=1 shapes go up to 1.4x the size")
