"""Top-1 / top-5 accuracy of a classifier on an ImageFolder-style directory, without torchvision.

Preprocessing is the standard ImageNet evaluation the VoVNet weights were published with (torchvision's classic one):
resize the shorter side to 256 (bilinear, PIL), centre-crop 224, scale to [0, 1], normalise with the ImageNet
mean and std. The folder layout is ImageFolder's: one sub-folder per class, classes indexed in sorted
order of their folder names (for ImageNet the wnid folders then map to the standard 1000-class order).
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn

from effkit.errors import BadInputError, setting

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class EvalResult:
    """Accuracy of one model on one image folder.

    Attributes:
        model: the model evaluated (zoo name, external spec or class name).
        weights: the weights file loaded ("" when none).
        data_dir: the image folder.
        images: images evaluated.
        classes: classes (sub-folders) in the folder.
        correct1: images whose label is the top prediction.
        correct5: images whose label is among the five top predictions (fewer when the model has
            fewer than five outputs).
        top1: ``100 * correct1 / images`` [%].
        top5: ``100 * correct5 / images`` [%].
    """

    model: str
    weights: str
    data_dir: str
    images: int
    classes: int
    correct1: int
    correct5: int
    top1: float
    top5: float

    def as_dict(self) -> dict:
        return asdict(self)

    def accuracy_row(self) -> dict:
        """A row for a user accuracy CSV (see :func:`effkit.report.accuracy.append_accuracy`)."""
        return {
            "model": self.model, "top1": round(self.top1, 3), "top5": round(self.top5, 3),
            "dataset": f"{self.data_dir} ({self.images} images, {self.classes} classes; "
                       "resize 256 + centre crop 224)",
            "weights": self.weights,
            "source": "effkit evaluate",
        }


def preprocess(image, *, resize: int = 256, crop: int = 224, mean: Sequence[float] = IMAGENET_MEAN,
               std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """One image -> a normalised ``3 x crop x crop`` float tensor.

    Args:
        image: a PIL image or a path to one (converted to RGB).
        resize: length the shorter side is resized to (bilinear), the longer side keeping the aspect
            ratio (truncated to an integer, as torchvision does).
        crop: side of the centre crop taken after resizing.
        mean: per-channel mean subtracted after scaling pixels to [0, 1].
        std: per-channel standard deviation divided by.
    """
    from PIL import Image

    if not isinstance(image, Image.Image):
        image = _open(Path(image))
    img = image.convert("RGB")
    w, h = img.size
    if w <= h:
        new_w, new_h = resize, int(resize * h / w)
    else:
        new_w, new_h = int(resize * w / h), resize
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.BILINEAR)
    # Centre crop; offsets rounded like torchvision's CenterCrop so results compare with its pipeline.
    left = int(round((new_w - crop) / 2.0))
    top = int(round((new_h - crop) / 2.0))
    if left < 0 or top < 0:
        raise BadInputError(f"image of {w}x{h} is smaller than the {crop} crop after resizing to {resize}")
    img = img.crop((left, top, left + crop, top + crop))
    x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).reshape(crop, crop, 3)
    x = x.permute(2, 0, 1).to(torch.float32).div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (x - m) / s


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            _refuse_bomb(path, im.size, Image.MAX_IMAGE_PIXELS)
            im.load()
            return im.copy()
    except Image.DecompressionBombError as e:  # over twice PIL's limit: refused inside Image.open
        raise BadInputError(f"cannot read image {path}: {e}") from e
    except (OSError, UnidentifiedImageError) as e:
        raise BadInputError(f"cannot read image {path}: {e}") from e


def _refuse_bomb(path: Path, size: tuple[int, int], limit: int | None) -> None:
    """Refuse an image that declares more pixels than PIL's limit before decoding it (it would fill memory).

    PIL itself only warns between its limit and twice it; an evaluation has no use for such an image.
    """
    w, h = size
    if limit is not None and w * h > limit:
        raise BadInputError(f"cannot read image {path}: it declares {w}x{h} pixels, more than the "
                            f"{limit} PIL decodes safely (a decompression bomb?)")


def scan_image_folder(root: str | Path, *, limit: int | None = None) -> tuple[list[tuple[Path, int]], list[str]]:
    """The (image path, class index) samples of an ImageFolder-style directory, and its class names.

    Args:
        root: directory with one sub-folder per class.
        limit: evaluate at most this many images, spread evenly over the sorted list (so every class
            is represented when ``limit`` allows), deterministically.

    Raises:
        BadInputError: the folder does not exist, has no class sub-folders or no images.
    """
    root = Path(root)
    if not root.is_dir():
        raise BadInputError(f"image folder {root} does not exist or is not a directory")
    if limit is not None and limit <= 0:
        raise BadInputError(f"{setting('limit')} must be a positive integer, got {limit}", field="limit")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise BadInputError(f"image folder {root} has no class sub-folders (expected ROOT/CLASS/IMAGE.jpg)")
    samples: list[tuple[Path, int]] = []
    for idx, name in enumerate(classes):
        for dirpath, dirnames, filenames in os.walk(root / name, followlinks=True):
            dirnames.sort()
            for f in sorted(filenames):
                if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."):
                    samples.append((Path(dirpath) / f, idx))
    if not samples:
        raise BadInputError(f"image folder {root} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    if limit is not None and limit < len(samples):
        n = len(samples)
        # Even spacing over the class-sorted list: a prefix would only cover the first classes.
        samples = [samples[(i * n) // limit] for i in range(limit)]
    return samples, classes


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> list[int]:
    """How many rows have their label among the ``k`` largest logits, for each ``k`` (capped at the width)."""
    width = logits.shape[1]
    kmax = min(max(ks), width)
    top = logits.topk(kmax, dim=1).indices
    hit = top == labels.view(-1, 1)
    return [int(hit[:, :min(k, width)].any(dim=1).sum()) for k in ks]


def _build(model, weights) -> tuple[nn.Module, str]:
    from effkit.models.resolve import resolve

    resolved = resolve(model)
    net, name = resolved.build(copy=False), resolved.name  # the caller's module itself is evaluated
    if weights is not None:
        from effkit.models.external import load_weights

        wpath = Path(weights)
        if not wpath.is_file():
            raise BadInputError(f"weights file {wpath} does not exist")
        load_weights(net, str(wpath))
    return net, name


def evaluate(
    model: nn.Module | str,
    data: str | Path,
    *,
    weights: str | Path | None = None,
    batch_size: int = 32,
    limit: int | None = None,
    device: str | torch.device | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Top-1 / top-5 accuracy of a classifier on an ImageFolder-style directory.

    Args:
        model: zoo name, external spec (``"pkg.mod:factory"``...) or an ``nn.Module`` (evaluated in
            place, switched to eval mode).
        data: directory with one sub-folder per class; labels are the sorted sub-folder indices.
        weights: local state_dict file, loaded with ``weights_only=True`` and checked against the model.
        batch_size: images per forward pass.
        limit: evaluate at most this many images (spread evenly; see :func:`scan_image_folder`).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; default (``None``/``"auto"``) CUDA when
            available, else CPU.
        workers: threads decoding images; default ``min(4, CPU count)``.
        progress: called as ``progress(images_done, images_total)`` after each batch.

    Returns:
        An :class:`EvalResult`.

    Raises:
        BadInputError: bad folder, unreadable image, bad batch size, an unknown or unsupported device
            string, or more classes than model outputs.
        BackendUnavailableError: CUDA asked for but not available here (or no such GPU index).
        ModelLoadError: the weights do not fit the model.
    """
    if batch_size <= 0:
        raise BadInputError(f"batch size must be a positive integer, got {batch_size}")
    from effkit.devices import resolve_device

    # Checked before scanning the folder or loading weights, so a typo in the device fails at once;
    # resolve_device refuses unknown strings, meta and CUDA where there is none, as measurement does.
    dev = resolve_device("auto" if device is None else device)
    samples, classes = scan_image_folder(data, limit=limit)
    net, name = _build(model, weights)
    try:
        net = net.to(dev).eval()
    except (RuntimeError, AssertionError) as e:
        raise BadInputError(f"cannot move the model to {dev}: {str(e).splitlines()[0]}") from e
    total = len(samples)
    done = correct1 = correct5 = 0
    workers = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool, torch.inference_mode():
        for start in range(0, total, batch_size):
            chunk = samples[start:start + batch_size]
            # PIL decodes and resizes outside the GIL, so a few threads keep the model fed.
            x = torch.stack(list(pool.map(lambda s: preprocess(s[0]), chunk))).to(dev)
            labels = torch.tensor([s[1] for s in chunk], device=dev)
            logits = _logits(net, x, name)
            if start == 0:
                _check_classes(logits, classes, data, name)
            c1, c5 = topk_correct(logits.float(), labels)
            correct1 += c1
            correct5 += c5
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return EvalResult(
        model=name, weights=str(weights) if weights is not None else "", data_dir=str(data), images=total,
        classes=len(classes), correct1=correct1, correct5=correct5,
        top1=100.0 * correct1 / total, top5=100.0 * correct5 / total,
    )


def _logits(net: nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """The model's (batch, classes) logits for one batch; a model that cannot take it is bad input, not a crash."""
    try:
        logits = net(x)
    except Exception as e:
        raise BadInputError(
            f"{name} failed on a batch of {tuple(x.shape)} ({type(e).__name__}: "
            f"{str(e).strip().splitlines()[0] if str(e).strip() else ''})"
        ) from e
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    if logits.dim() != 2:
        raise BadInputError(f"{name} returned {tuple(logits.shape)}; expected (batch, classes) logits")
    return logits


def _check_classes(logits: torch.Tensor, classes, data, name: str) -> None:
    """More class folders than outputs is refused; fewer is allowed (the first classes), with a warning."""
    if len(classes) > logits.shape[1]:
        raise BadInputError(f"{data} has {len(classes)} class folders but {name} has {logits.shape[1]} outputs")
    if len(classes) != logits.shape[1]:
        warnings.warn(
            f"{data} has {len(classes)} class folders and {name} {logits.shape[1]} outputs: "
            "labels assume the folders are the first classes of the model, in sorted order",
            stacklevel=3,
        )


__all__ = ["EvalResult", "IMAGENET_MEAN", "IMAGENET_STD", "evaluate", "preprocess", "scan_image_folder",
           "topk_correct"]
