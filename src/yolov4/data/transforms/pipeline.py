"""The composed training augmentation, configured by Darknet ``[net]``/``[yolo]`` key names.

Order for one output image of size ``(h, w)`` (each step switchable in :class:`AugmentConfig`):
1. Darknet per-image augmentation (jitter/resize crop with mean fill, flip, HSV, blur, noise),
   or, with probability ``mosaic_prob`` when ``mosaic=1``, a Darknet mosaic of four such images;
2. ``mixup``: blend 0.5/0.5 with a second image built like step 1, boxes united;
3. ``cutmix``: paste a rectangle of a second image built like step 1, boxes kept by visibility;
4. random affine (``degrees``, ``translate``, ``scale``, ``shear``; ours, not Darknet's);
5. occlusion (``cutout``, ``random_erasing``, ``hide_and_seek``, ``gridmask``; ours).

Darknet differences, on purpose: Darknet applies mosaic/mixup with probability 1/2 per loader
thread chunk (we draw per image with the same probability), and ``mosaic=1`` disables ``mixup``
(we allow both). Darknet only knows CutMix for classifiers (its detector ignores ``cutmix=1``,
or treats ``mosaic=1, cutmix=1`` as mosaic); here ``cutmix=1`` turns on the detection variant.
``mosaic_bound`` is accepted and has no effect: boxes are always clipped to their quadrant.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Optional, Sequence, Tuple

import numpy as np

from ...darknet.yolo_settings import YoloSettings, yolo_sections
from ...errors import CfgError
from ..sample import Sample
from .boxes import BoxRules, Boxes, Labels, clip_and_filter
from .geometric import random_affine
from .image_aug import ImageAug, augment_image
from .mixing import random_cutmix, random_mixup
from .mosaic import mosaic4
from .occlusion import cutout, gridmask, hide_and_seek, random_erasing

Triple = Tuple[np.ndarray, Boxes, Labels]

#: ``[net]`` keys read by :meth:`AugmentConfig.from_net_section` (Darknet's names and types).
NET_KEYS = {"hue": float, "saturation": float, "exposure": float, "flip": int, "blur": int,
            "gaussian_noise": int, "letter_box": int, "mosaic": int, "mosaic_bound": int,
            "mixup": int, "cutmix": int}
#: Keys Darknet reads from the last ``[yolo]`` layer.
YOLO_KEYS = {"jitter": float, "resize": float}


@dataclass(frozen=True)
class AugmentConfig(ImageAug):
    """Every training augmentation switch. Defaults are Darknet's defaults (``parse_net_options``
    and ``parse_yolo``), with our own additions off. The first fields (``jitter`` ...
    ``gaussian_noise``, same order and defaults) are inherited from :class:`ImageAug`.

    Darknet keys: ``jitter`` ``resize`` ``letter_box`` ``flip`` ``hue`` ``saturation``
    ``exposure`` ``blur`` ``gaussian_noise`` ``mosaic`` ``mosaic_bound`` ``mixup`` ``cutmix``.
    Ours: ``*_prob`` (per-image probabilities), ``mixup_alpha`` (None = Darknet's 0.5/0.5),
    ``degrees``/``translate``/``scale``/``shear`` (random affine), ``cutout`` (holes per image),
    ``cutout_size``, ``random_erasing``/``hide_and_seek``/``gridmask`` (probabilities),
    ``occlusion_min_visible`` (share of each box an occluder must leave visible),
    ``min_box_size``/``min_visible`` (:class:`BoxRules`).
    """

    mosaic: bool = False
    mosaic_bound: bool = False
    mixup: bool = False
    cutmix: bool = False
    mosaic_prob: float = 0.5
    mixup_prob: float = 0.5
    cutmix_prob: float = 0.5
    mixup_alpha: Optional[float] = None
    degrees: float = 0.0
    translate: float = 0.0
    scale: float = 0.0
    shear: float = 0.0
    cutout: int = 0
    cutout_size: Tuple[float, float] = (0.1, 0.3)
    random_erasing: float = 0.0
    hide_and_seek: float = 0.0
    gridmask: float = 0.0
    occlusion_min_visible: float = 0.3
    min_box_size: float = 2.0
    min_visible: float = 0.1

    def __post_init__(self) -> None:
        for name in ("mosaic_prob", "mixup_prob", "cutmix_prob", "random_erasing",
                     "hide_and_seek", "gridmask", "occlusion_min_visible", "min_visible"):
            v = getattr(self, name)
            if not 0.0 <= float(v) <= 1.0:
                raise CfgError(f"augmentation option {name}={v}: must be in [0, 1]")
        for name, lo, hi in (("jitter", 0.0, 1.0), ("hue", 0.0, 1.0)):
            v = getattr(self, name)
            if not lo <= float(v) < hi:
                raise CfgError(f"augmentation option {name}={v}: must be in [{lo}, {hi})")
        for name in ("resize", "saturation", "exposure", "degrees", "translate", "scale",
                     "shear", "blur", "gaussian_noise", "cutout", "min_box_size"):
            if float(getattr(self, name)) < 0:
                raise CfgError(f"augmentation option {name}={getattr(self, name)}: must be >= 0")

    @classmethod
    def from_net_section(cls, section: Any, yolo: Any = None, **overrides: Any
                         ) -> "AugmentConfig":
        """Read a cfg ``[net]`` section (and ``jitter``/``resize`` from ``yolo``, Darknet's last
        ``[yolo]`` section); ``overrides`` win. Bad values raise ``CfgError`` with file:line."""
        values: dict = {}
        where = f"{section.where()} " if section is not None else ""
        for key, typ in NET_KEYS.items():
            if section is not None and section.has(key):
                values[key] = (section.get_float if typ is float else section.get_int)(key)
        settings = YoloSettings.from_section(yolo) if yolo is not None else None
        for key in YOLO_KEYS:
            if settings is not None and yolo.has(key):
                values[key] = getattr(settings, key)
        for key in ("flip", "letter_box", "mosaic", "mosaic_bound", "mixup", "cutmix"):
            if key in values:
                values[key] = bool(values[key])
        try:
            return cls.from_dict({**values, **overrides})
        except CfgError as err:
            for sec in (section, yolo):  # point at the offending line when the cfg has the key
                key = next((k for k in values if sec is not None and sec.has(k)
                            and f"option {k}=" in str(err)), None)
                if key is not None:
                    raise CfgError(f"{sec.where(key)} {err}") from None
            raise CfgError(f"{where}{err}") from None

    @classmethod
    def from_cfg(cls, sections: Sequence[Any], **overrides: Any) -> "AugmentConfig":
        """From parsed cfg sections: ``[net]`` plus the last ``[yolo]`` (Darknet's rule)."""
        net = next((s for s in sections if s.type == "net"), None)
        yolos = yolo_sections(sections)
        return cls.from_net_section(net, yolos[-1] if yolos else None, **overrides)

    @classmethod
    def from_dict(cls, values: dict) -> "AugmentConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CfgError(f"unknown augmentation options: {', '.join(unknown)}")
        return cls(**values)

    def replace(self, **changes: Any) -> "AugmentConfig":
        return replace(self, **changes)

    @property
    def rules(self) -> BoxRules:
        return BoxRules(self.min_box_size, self.min_visible)

    @property
    def image_aug(self) -> ImageAug:
        return ImageAug(**{f.name: getattr(self, f.name) for f in fields(ImageAug)})


def training_triple(sample: Sample) -> Triple:
    """A sample's ``(image, boxes, labels)`` for training: COCO crowd boxes removed."""
    boxes, labels = sample.boxes, sample.labels
    if sample.iscrowd is not None and len(boxes):
        keep = ~np.asarray(sample.iscrowd, bool)
        boxes, labels = boxes[keep], labels[keep]
    return sample.image, boxes.astype(np.float32), labels.astype(np.int64)


class TrainPipeline:
    """Builds augmented training images from a dataset.

    ``pipeline(index, size, rng)`` -> ``(uint8[h, w, 3] RGB, float32[M, 4] xyxy px, int64[M])``
    with ``size = (h, w)``; extra images for mosaic/mixup/cutmix are drawn from the dataset with
    ``rng``, so one seed gives one result.
    """

    def __init__(self, dataset: Any, config: AugmentConfig = AugmentConfig()) -> None:
        self.dataset = dataset
        self.config = config

    def load(self, index: int) -> Triple:
        return training_triple(self.dataset[index])

    def _base(self, index: int, size: Tuple[int, int], rng: np.random.Generator) -> Triple:
        cfg = self.config
        if cfg.mosaic and rng.random() < cfg.mosaic_prob:
            others = rng.integers(0, len(self.dataset), 3)
            parts = [self.load(index)] + [self.load(int(i)) for i in others]
            return mosaic4(parts, rng, size, cfg.image_aug, cfg.rules)
        image, boxes, labels = self.load(index)
        return augment_image(image, boxes, labels, rng, size, cfg.image_aug, cfg.rules)

    def __call__(self, index: int, size: Tuple[int, int], rng: np.random.Generator) -> Triple:
        cfg = self.config
        out = self._base(index, size, rng)
        if cfg.mixup and rng.random() < cfg.mixup_prob:
            other = self._base(int(rng.integers(0, len(self.dataset))), size, rng)
            out = random_mixup(out, other, rng, cfg.mixup_alpha)
        if cfg.cutmix and rng.random() < cfg.cutmix_prob:
            other = self._base(int(rng.integers(0, len(self.dataset))), size, rng)
            out = random_cutmix(out, other, rng, cfg.rules)
        if cfg.degrees or cfg.translate or cfg.scale or cfg.shear:
            out = random_affine(*out, rng, cfg.degrees, cfg.translate, cfg.scale, cfg.shear,
                                rules=cfg.rules)
        mv = cfg.occlusion_min_visible
        if cfg.cutout:
            out = cutout(*out, rng, n_holes=cfg.cutout, size=cfg.cutout_size, min_visible=mv)
        if cfg.random_erasing:
            out = random_erasing(*out, rng, p=cfg.random_erasing, min_visible=mv)
        if cfg.hide_and_seek:
            out = hide_and_seek(*out, rng, p=cfg.hide_and_seek, min_visible=mv)
        if cfg.gridmask:
            out = gridmask(*out, rng, p=cfg.gridmask, min_visible=mv)
        image, boxes, labels = out
        h, w = image.shape[:2]
        boxes, labels = clip_and_filter(boxes, labels, (0, 0, w, h), cfg.rules)
        return np.ascontiguousarray(image), boxes, labels
