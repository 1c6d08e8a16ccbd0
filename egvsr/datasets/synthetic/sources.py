"""Natural images that ship inside installable packages: the photographs synthetic scenes are made of.

Read by path from scikit-image, scikit-learn and matplotlib data folders (the packages are located,
never imported), as float32 RGB in [0, 1]. `VAL_IMAGES` are held out of training, so validation clips
show photographs the model never saw.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from egvsr.cvfile import read_image
from egvsr.errors import MissingDependencyError
from egvsr.native_stderr import native_messages_held

# (package, path inside the package, name)
IMAGES: tuple[tuple[str, str, str], ...] = (
    ("skimage", "data/astronaut.png", "astronaut"),
    ("skimage", "data/brick.png", "brick"),
    ("skimage", "data/camera.png", "camera"),
    ("skimage", "data/cell.png", "cell"),
    ("skimage", "data/chelsea.png", "chelsea"),
    ("skimage", "data/coffee.png", "coffee"),
    ("skimage", "data/coins.png", "coins"),
    ("skimage", "data/grass.png", "grass"),
    ("skimage", "data/gravel.png", "gravel"),
    ("skimage", "data/hubble_deep_field.jpg", "hubble"),
    ("skimage", "data/ihc.png", "ihc"),
    ("skimage", "data/moon.png", "moon"),
    ("skimage", "data/motorcycle_left.png", "motorcycle"),
    ("skimage", "data/page.png", "page"),
    ("skimage", "data/retina.jpg", "retina"),
    ("skimage", "data/rocket.jpg", "rocket"),
    ("skimage", "data/text.png", "text"),
    ("skimage", "data/microaneurysms.png", "microaneurysms"),
    ("skimage", "data/chessboard_GRAY.png", "chessboard"),
    ("sklearn", "datasets/images/china.jpg", "china"),
    ("sklearn", "datasets/images/flower.jpg", "flower"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "grace_hopper"),
)
VAL_IMAGES = ("coffee", "rocket", "flower")
#: (height / width, width / height) at most of the images above: cell is 660x550, text 172x448 (tested)
PHOTO_ASPECT = (1.2, 2.61)
SPLITS = ("train", "val")
INSTALL_HINT = "pip install scikit-image scikit-learn (or: pip install 'egvsr[train]')"


def image_names(split: str) -> tuple[str, ...]:
    """Names of the images of `split` ("train" or "val"), in a fixed order."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r}: expected one of {SPLITS}")
    names = [name for _, _, name in IMAGES]
    return tuple(n for n in names if (n in VAL_IMAGES) == (split == "val"))


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"package {package!r} not installed: synthetic scenes read its bundled images ({INSTALL_HINT})"
        )
    return Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=None)
def load_image(name: str) -> np.ndarray:
    """The image `name` as float32 (H, W, 3) RGB in [0, 1] (cached; treat as read-only)."""
    match = [(pkg, rel) for pkg, rel, n in IMAGES if n == name]
    if not match:
        raise ValueError(f"image {name!r}: expected one of {[n for _, _, n in IMAGES]}")
    pkg, rel = match[0]
    path = _package_dir(pkg) / rel
    with native_messages_held(replay=False):  # scikit-image's page.png: libpng's "iCCP: ... rendering intent"
        img = read_image(path)
    if img is None:
        raise MissingDependencyError(f"{path}: bundled image could not be read ({INSTALL_HINT})")
    img = img.astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3][..., ::-1] if img.shape[2] >= 3 else np.repeat(img[..., :1], 3, axis=2)
    img = np.ascontiguousarray(img)
    img.setflags(write=False)
    return img
