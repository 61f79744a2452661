"""Training augmentations: each moves image, boxes and labels together.

Every transform maps ``(image uint8[H, W, 3] RGB, boxes float32[N, 4] xyxy px, labels int64[N])``
to the same triple, with an explicit ``numpy.random.Generator`` for randomness.
:class:`TrainPipeline` composes them from an :class:`AugmentConfig` (Darknet ``[net]`` keys).
"""
from .boxes import DARKNET_RULES, BoxRules, clip_and_filter, transform_boxes
from .geometric import hflip, jitter_resize, letterbox, random_affine, random_flip, resize
from .image_aug import ImageAug, augment_image
from .mixing import cutmix, mixup, random_cutmix, random_mixup
from .mosaic import mosaic4
from .occlusion import cutout, gridmask, hide_and_seek, random_erasing
from .photometric import gaussian_noise, random_blur, random_hsv
from .pipeline import AugmentConfig, TrainPipeline

__all__ = [
    "AugmentConfig", "BoxRules", "DARKNET_RULES", "ImageAug", "TrainPipeline", "augment_image",
    "clip_and_filter", "cutmix", "cutout", "gaussian_noise", "gridmask", "hflip",
    "hide_and_seek", "jitter_resize", "letterbox", "mixup", "mosaic4", "random_affine",
    "random_blur", "random_cutmix", "random_erasing", "random_flip", "random_hsv",
    "random_mixup", "resize", "transform_boxes",
]
