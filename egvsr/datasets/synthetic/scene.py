"""Randomized layered scenes for training data: a photograph seen by a moving camera, with occluders.

A scene is drawn from a seeded generator: a background photograph (random zoom into it) under a camera
that pans, zooms and rotates; 0-3 foreground layers cut from other photographs or procedural textures
(ellipse, rectangle or polygon masks with soft edges) moving independently, occluding each other and
the background. Motion is constant velocity plus a small acceleration, with a per-clip speed from
still to fast (`SPEED_RANGE`, output pixels per frame interval), played back and forth beyond `TURN_S`
seconds from the first frame, so a long clip keeps the drawn speeds, zoom and rotation. `render(t)` is exact
at any time t (seconds), so frames, ground truth, exposure integration and event simulation all see one scene.
"""

from __future__ import annotations

import math

import numpy as np

from egvsr.datasets.synthetic.sources import PHOTO_ASPECT, image_names, load_image
from egvsr.events.checks import is_real
from egvsr.events.simulate.scene import _affine, _procedural_texture, over

STILL_PROB = 0.08
SPEED_RANGE = (0.3, 14.0)  # px per frame interval (log-uniform) of the camera and of each layer
MAX_LAYERS = 3
#: Seconds from the first frame after which the motion plays backwards (then forwards again, ...): the scene's
#: clock folds at +-TURN_S, so speed, zoom and rotation stay what they reach by 1 s however long the clip (the
#: acceleration and the zoom grow without end otherwise). A 5-frame clip lasts at most 0.3 s: never folded.
TURN_S = 1.0


def _cv2():
    import cv2

    return cv2


def draw_speed(rng: np.random.Generator) -> float:
    """Pixels per frame interval: still with probability STILL_PROB, else log-uniform."""
    if rng.random() < STILL_PROB:
        return 0.0
    lo, hi = SPEED_RANGE
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def _shape_mask(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Soft (1-2 px edge) mask of a random ellipse, rotated rectangle or polygon filling most of h x w."""
    cv2 = _cv2()
    up = 4  # draw at 4x, then area-average: anti-aliased edges
    m = np.zeros((h * up, w * up), np.uint8)
    c = (w * up // 2, h * up // 2)
    kind = rng.integers(0, 3)
    if kind == 0:
        axes = (int(w * up * rng.uniform(0.3, 0.5)), int(h * up * rng.uniform(0.3, 0.5)))
        cv2.ellipse(m, c, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
    elif kind == 1:
        box = ((c[0], c[1]), (w * up * rng.uniform(0.5, 0.9), h * up * rng.uniform(0.5, 0.9)),
               float(rng.uniform(0, 90)))
        cv2.fillPoly(m, [cv2.boxPoints(box).astype(np.int32)], 255)
    else:
        n = int(rng.integers(5, 9))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.25, 0.5, n)
        pts = np.stack([c[0] + np.cos(ang) * rad * w * up, c[1] + np.sin(ang) * rad * h * up], 1)
        cv2.fillPoly(m, [pts.astype(np.int32)], 255)
    small = cv2.resize(m.astype(np.float32) / 255.0, (w, h), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(small, (0, 0), float(rng.uniform(0.3, 1.0)))


def _crop(rng: np.random.Generator, img: np.ndarray, h: int, w: int) -> np.ndarray:
    """A random h x w crop of `img` after a random downscale (area filter) within what fits."""
    cv2 = _cv2()
    ih, iw = img.shape[:2]
    fit = min(ih / h, iw / w)
    f = float(rng.uniform(1.0, max(1.0, min(fit, 4.0))))  # source px per output px
    if f > 1.05:
        img = cv2.resize(img, (max(w, round(iw / f)), max(h, round(ih / f))), interpolation=cv2.INTER_AREA)
    ih, iw = img.shape[:2]
    y, x = int(rng.integers(0, ih - h + 1)), int(rng.integers(0, iw - w + 1))
    return np.ascontiguousarray(img[y:y + h, x:x + w])


#: A photograph too small for the background is scaled up, evenly, this much beyond covering it
BG_UPSCALE_SLACK = 1.01


def background_side(side: int) -> int:
    """Pixels of the background along a clip side of `side`: larger, as the camera's view moves and rotates."""
    margin = 1.6
    return int(side * margin * 1.3)


def background_photo_pixels(height: int, width: int) -> int:
    """Most pixels a background photograph takes once scaled up for a clip of `height` x `width` (float32 RGB,
    before its crop): scaled evenly to cover both sides, a photo of `PHOTO_ASPECT` for a clip much wider than
    tall (or taller than wide) becomes about a square of the long side: 1 GB for a 16x4096 clip."""
    bh, bw = background_side(height), background_side(width)
    tall, wide = PHOTO_ASPECT
    return max(math.ceil(BG_UPSCALE_SLACK * bw + 1) * math.ceil(BG_UPSCALE_SLACK * bw * tall + 1),
               math.ceil(BG_UPSCALE_SLACK * bh + 1) * math.ceil(BG_UPSCALE_SLACK * bh * wide + 1))


def scene_time(t: float) -> float:
    """The scene's clock at clip time `t` (seconds): `t` itself within +-TURN_S, reflected back and forth at
    +-TURN_S beyond (a triangle wave), so the scene moves on continuously and never past TURN_S."""
    if -TURN_S <= t <= TURN_S:
        return t
    u = (t + TURN_S) % (4 * TURN_S)
    return u - TURN_S if u <= 2 * TURN_S else 3 * TURN_S - u


class _Motion:
    """Position, angle and log-scale of a layer or camera at time t: linear + small quadratic terms."""

    def __init__(self, rng: np.random.Generator, speed_px_s: float, spin: float, zoom: float) -> None:
        d = rng.uniform(0, 2 * np.pi)
        self.v = np.array([math.cos(d), math.sin(d)]) * speed_px_s
        self.a = rng.normal(0, 0.3, 2) * speed_px_s  # px/s^2: gentle curvature over a clip
        self.spin, self.zoom = spin, zoom

    def offset(self, t: float) -> np.ndarray:
        return self.v * t + 0.5 * self.a * t * t


class LayeredScene:
    """Seeded random scene of `height` x `width` pixels over `duration` seconds (see module doc)."""

    def __init__(self, rng: np.random.Generator, height: int, width: int, fps: float, split: str = "train"):
        cv2 = _cv2()
        self.height, self.width, self.fps = int(height), int(width), float(fps)
        names = image_names(split)
        picks = rng.permutation(len(names))
        bg_name = names[int(picks[0])]
        self.image_names = [bg_name]
        bh, bw = background_side(self.height), background_side(self.width)
        bg = load_image(bg_name)
        if bg.shape[0] < bh or bg.shape[1] < bw:
            f = max(bh / bg.shape[0], bw / bg.shape[1]) * BG_UPSCALE_SLACK
            bg = cv2.resize(bg, (math.ceil(bg.shape[1] * f), math.ceil(bg.shape[0] * f)),
                            interpolation=cv2.INTER_CUBIC)
        self.bg = np.dstack([_crop(rng, bg, bh, bw), np.ones((bh, bw), np.float32)])
        cam_speed = draw_speed(rng) * self.fps
        self.camera = _Motion(rng, cam_speed, rng.normal(0, 0.15) * (cam_speed > 0),
                              rng.normal(0, 0.3) * (cam_speed > 0))
        self.layers: list[tuple[np.ndarray, np.ndarray, _Motion]] = []
        for i in range(int(rng.integers(0, MAX_LAYERS + 1))):
            self.layers.append(self._layer(rng, names, picks, i))

    def _layer(self, rng, names, picks, i):
        lh = int(self.height * rng.uniform(0.25, 0.7))
        lw = int(self.width * rng.uniform(0.25, 0.7))
        if rng.random() < 0.75:
            name = names[int(picks[(i + 1) % len(names)])]
            self.image_names.append(name)
            src = load_image(name)
            if src.shape[0] < lh or src.shape[1] < lw:
                src = _cv2().resize(src, (max(lw, src.shape[1]), max(lh, src.shape[0])))
            rgb = _crop(rng, src, lh, lw)
        else:
            tex = _procedural_texture(rng, "blobs" if rng.random() < 0.5 else "stripes")
            rgb = _cv2().resize(tex[..., :3], (lw, lh), interpolation=_cv2().INTER_AREA)
        alpha = _shape_mask(rng, lh, lw)
        rgba = np.dstack([rgb * alpha[..., None], alpha]).astype(np.float32)
        home = np.array([rng.uniform(0.15, 0.85) * self.width, rng.uniform(0.15, 0.85) * self.height])
        speed = draw_speed(rng) * self.fps
        motion = _Motion(rng, speed, rng.normal(0, 0.5) * (speed > 0), rng.normal(0, 0.3) * (speed > 0))
        return np.ascontiguousarray(rgba), home, motion

    def _bg_matrix(self, t: float) -> np.ndarray:
        m = self.camera
        bh, bw = self.bg.shape[:2]
        centre = np.array([(bw - 1) / 2, (bh - 1) / 2]) + m.offset(t)
        out_c = ((self.width - 1) / 2, (self.height - 1) / 2)
        return _affine(math.exp(-m.zoom * t), m.spin * t, centre, out_c)

    def _layer_matrix(self, rgba: np.ndarray, home: np.ndarray, m: _Motion, t: float) -> np.ndarray:
        lh, lw = rgba.shape[:2]
        pos = home + m.offset(t)
        return _affine(math.exp(-m.zoom * t), m.spin * t, ((lw - 1) / 2, (lh - 1) / 2), pos)

    def render(self, t: float) -> np.ndarray:
        """Exact float32 (H, W, 3) RGB in [0, 1] at time t (seconds; the motion folds at +-TURN_S)."""
        cv2 = _cv2()
        t = scene_time(t)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        size = (self.width, self.height)
        out = cv2.warpAffine(self.bg, self._bg_matrix(t), size, flags=flags, borderMode=cv2.BORDER_REFLECT_101)
        for rgba, home, m in self.layers:
            o = cv2.warpAffine(rgba, self._layer_matrix(rgba, home, m, t), size, flags=flags,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            over(out, o, 3)
        return np.ascontiguousarray(np.clip(out[..., :3], 0.0, 1.0))

    def max_speed(self, span: float = TURN_S) -> float:
        """Upper bound of image motion in px per second at clip times within +-`span` seconds (the scene's
        clock within +-min(span, TURN_S)), over the camera and every layer: their translation (velocity plus
        acceleration; the background's magnified as the camera zooms in) and the rotation and zoom about their
        centres, at the farthest point seen (an output corner; a layer's corner, as it is magnified).
        The looser bound of the first version (translation at 1 s plus rotation and zoom at the output's
        diagonal) is kept where it is larger, so the clips it rendered stay the same."""
        if not (is_real(span) and math.isfinite(span) and span >= 0):
            raise ValueError(f"span {span!r}: expected a number of seconds >= 0")
        T = min(float(span), TURN_S)
        r = math.hypot(self.width, self.height)
        cam = self.camera
        speeds = [_v1_bound(cam, r), _translation(cam, T) * math.exp(abs(cam.zoom) * T) + _turning(cam) * r / 2]
        for rgba, _, m in self.layers:
            corner = math.hypot(*rgba.shape[:2]) / 2 * math.exp(abs(m.zoom) * T)
            speeds += [_v1_bound(m, r), _translation(m, T) + _turning(m) * corner]
        return max(speeds)


def _translation(m: _Motion, T: float) -> float:
    """Most px per second of `m`'s translation within +-T seconds: |v + a t| <= |v| + |a| T."""
    return float(np.linalg.norm(m.v)) + float(np.linalg.norm(m.a)) * T


def _turning(m: _Motion) -> float:
    """Px per second per px from the centre of `m`'s rotation and zoom (the zoom's rate is d log(scale)/dt)."""
    return abs(m.spin) + abs(m.zoom)


def _v1_bound(m: _Motion, r: float) -> float:
    """The first version's bound: translation at 1 s, rotation and zoom at distance `r` (the output's diagonal)."""
    return _translation(m, 1.0) + r * _turning(m)
