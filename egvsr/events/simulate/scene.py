"""The sample scene: a real photograph seen by a smoothly moving camera, with textured objects on top.

Everything is an analytic function of time (sums of sinusoids with seeded frequencies and phases), and
each image is one exact affine warp per layer (OpenCV, bilinear), so any time renders exactly: input
frames, ground truth between them, and the dense frames the events are simulated from. The background
is matplotlib's bundled `grace_hopper.jpg`; objects use its other bundled images and procedural
textures. Motion is moderate (about a quarter of the frame width per second).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from egvsr.cvfile import read_image
from egvsr.errors import MissingDependencyError

LUMA = np.array([0.299, 0.587, 0.114], np.float32)
ZOOM_AMPLITUDE = 0.10     # log scale
ROTATION_AMPLITUDE = 0.06  # rad
SPEED_PER_WIDTH = 0.25    # target speed of pan and objects, in frame widths per second


def _cv2():
    import cv2

    return cv2


def _sample_image(name: str) -> np.ndarray:
    """A matplotlib sample image as float32 RGB or RGBA in [0, 1]."""
    try:
        from matplotlib import cbook

        path = cbook.get_sample_data(name, asfileobj=False)
    except Exception as exc:  # noqa: BLE001 - any failure means the sample data is unavailable
        raise MissingDependencyError(
            f"matplotlib sample image {name!r} not found ({exc}); the sample scene needs matplotlib's "
            "bundled sample_data (pip install matplotlib)"
        ) from None
    img = read_image(path)
    if img is None:
        raise MissingDependencyError(f"{path}: matplotlib sample image could not be read")
    img = img.astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)
    order = [2, 1, 0, 3][: img.shape[2]]
    return np.ascontiguousarray(img[..., order])


class Wave:
    """A smooth random function of time in [-1, 1]: a weighted sum of three sinusoids."""

    def __init__(self, rng: np.random.Generator, f_lo: float, f_hi: float) -> None:
        w = rng.uniform(0.3, 1.0, 3)
        self.terms = [
            (float(wk), 2 * math.pi * float(f), float(ph))
            for wk, f, ph in zip(w / w.sum(), rng.uniform(f_lo, f_hi, 3), rng.uniform(0, 2 * np.pi, 3))
        ]

    def __call__(self, t: float) -> float:
        return sum(w * math.sin(omega * t + ph) for w, omega, ph in self.terms)

    @property
    def max_rate(self) -> float:
        """Upper bound of |d/dt| (per second)."""
        return sum(w * omega for w, omega, _ in self.terms)


@numba.njit(cache=True)
def over(out: np.ndarray, layer: np.ndarray, channels: int) -> None:
    """In place: out[..., :c] = out * (1 - alpha) + layer[..., :c] (premultiplied; alpha: channel 3)."""
    h, w = out.shape[0], out.shape[1]
    for y in range(h):
        for x in range(w):
            keep = 1.0 - layer[y, x, 3]
            for c in range(channels):
                out[y, x, c] = out[y, x, c] * keep + layer[y, x, c]


def over_reference(out: np.ndarray, layer: np.ndarray, channels: int) -> np.ndarray:
    """Numpy version of `over` (returns a new array)."""
    res = out.copy()
    res[..., :channels] = out[..., :channels] * (1.0 - layer[..., 3:]) + layer[..., :channels]
    return res


def _affine(scale: float, angle: float, src_point, dst_point) -> np.ndarray:
    """2x3 map p -> src_point + scale * R(angle) (p - dst_point)."""
    c, s = math.cos(angle) * scale, math.sin(angle) * scale
    a = np.array([[c, -s], [s, c]])
    b = np.asarray(src_point, float) - a @ np.asarray(dst_point, float)
    return np.hstack([a, b[:, None]])


def _invert(m: np.ndarray) -> np.ndarray:
    (a, b, e), (c, d, f) = m.tolist()
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    return np.array([[ia, ib, -(ia * e + ib * f)], [ic, id_, -(ic * e + id_ * f)]])


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def _procedural_texture(rng: np.random.Generator, kind: str, side: int = 160) -> np.ndarray:
    """RGBA float32 texture: smooth colour noise in a disc, or coloured stripes in an ellipse."""
    cv2 = _cv2()
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    c = (side - 1) / 2
    if kind == "blobs":
        noise = rng.random((side, side, 3)).astype(np.float32)
        rgb = cv2.GaussianBlur(noise, (0, 0), side / 24)
        rgb = (rgb - rgb.min()) / max(float(np.ptp(rgb)), 1e-6)
        r = np.hypot(xx - c, yy - c) / c
    else:
        angle = rng.uniform(0, np.pi)
        period = rng.uniform(10, 22)
        u = (np.cos(angle) * xx + np.sin(angle) * yy) / period
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * u)
        colors = rng.random((2, 3)).astype(np.float32)
        rgb = colors[0] * stripes[..., None] + colors[1] * (1 - stripes[..., None])
        r = np.hypot((xx - c) / 1.0, (yy - c) / 0.65) / c
    alpha = np.clip((1.0 - r) * side / 4, 0, 1)  # soft 2-px edge
    return np.dstack([rgb, alpha]).astype(np.float32)


class _Layer:
    """One moving object: premultiplied texture, scale, path waves and spin."""

    def __init__(self, rgba: np.ndarray, rng: np.random.Generator, height: int, width: int) -> None:
        cv2 = _cv2()
        th, tw = rgba.shape[:2]
        aspect = max(tw, th) / min(tw, th)
        target = rng.uniform(0.3, 0.45) * min(height, width) * min(aspect, 2.0) ** 0.5
        scale = target / max(tw, th)  # output px per texture px
        if scale < 0.8:  # pre-shrink so the per-frame warp never aliases
            rgba = cv2.resize(rgba, (max(2, round(tw * scale)), max(2, round(th * scale))),
                              interpolation=cv2.INTER_AREA)
            scale = target / max(rgba.shape[:2])
        pm = rgba[..., :3] * rgba[..., 3:]
        self.rgba = np.ascontiguousarray(np.dstack([pm, rgba[..., 3]]))
        # 4 channels, not 2: OpenCV warps 2-channel float images with coarser (1/32 px) coordinates
        zero = np.zeros(rgba.shape[:2], np.float32)
        self.luma = np.ascontiguousarray(np.dstack([pm @ LUMA, zero, zero, rgba[..., 3]]))
        self.scale = scale
        self.tex_center = ((rgba.shape[1] - 1) / 2, (rgba.shape[0] - 1) / 2)
        h, w = rgba.shape[:2]
        self.corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], float)
        self.wx, self.wy = Wave(rng, 0.08, 0.3), Wave(rng, 0.08, 0.3)
        speed = SPEED_PER_WIDTH * width
        self.ax = min(0.25 * width, speed / self.wx.max_rate)
        self.ay = min(0.25 * height, speed / self.wy.max_rate)
        home = rng.uniform(0, 2 * np.pi)  # objects orbit different spots, not all the centre
        self.center = ((width - 1) / 2 + 0.22 * width * math.cos(home),
                       (height - 1) / 2 + 0.22 * height * math.sin(home))
        self.angle0 = rng.uniform(0, 2 * np.pi)
        self.spin = rng.choice([-1, 1]) * rng.uniform(0.15, 0.5)

    def matrix(self, t: float) -> np.ndarray:
        """2x3 map from output pixels to texture pixels at time t (s)."""
        pos = (self.center[0] + self.ax * self.wx(t), self.center[1] + self.ay * self.wy(t))
        return _affine(1.0 / self.scale, -(self.angle0 + self.spin * t), self.tex_center, pos)


class SampleScene:
    """Seeded scene of `height` x `width` pixels; `render(t)` gives the exact image at t seconds."""

    def __init__(self, seed: int, height: int, width: int) -> None:
        cv2 = _cv2()
        rng = np.random.default_rng(seed)
        self.height, self.width = int(height), int(width)
        src = _sample_image("grace_hopper.jpg")[..., :3]
        s0 = self._fit_scale(src.shape[0], src.shape[1])
        if s0 > 1.25:  # the photo is much larger than the view: shrink it once, no aliasing later
            f = 1.0 / s0
            src = cv2.resize(src, (round(src.shape[1] * f), round(src.shape[0] * f)),
                             interpolation=cv2.INTER_AREA)
            s0 = self._fit_scale(src.shape[0], src.shape[1])
        ones = np.ones(src.shape[:2], np.float32)  # 4 channels: OpenCV warps them fastest
        self.src_rgb = np.ascontiguousarray(np.dstack([src, ones]))
        self.src_luma = np.ascontiguousarray(src @ LUMA)
        self.s0 = s0
        hx, hy = self._half_extent(s0 * math.exp(ZOOM_AMPLITUDE))
        sh, sw = src.shape[:2]
        self.src_center = ((sw - 1) / 2, (sh - 1) / 2)
        self.out_center = ((self.width - 1) / 2, (self.height - 1) / 2)
        self.pan_x, self.pan_y = Wave(rng, 0.05, 0.25), Wave(rng, 0.05, 0.25)
        self.zoom, self.rot = Wave(rng, 0.05, 0.2), Wave(rng, 0.05, 0.2)
        speed_src = SPEED_PER_WIDTH * self.width * s0 * math.exp(-ZOOM_AMPLITUDE)
        self.ax = max(0.0, min((sw - 1) / 2 - 2 - hx, speed_src / self.pan_x.max_rate))
        self.ay = max(0.0, min((sh - 1) / 2 - 2 - hy, speed_src / self.pan_y.max_rate))
        kinds = ["minduka", "blobs", "stripes", "logo"]
        n_obj = int(rng.integers(2, 4))
        self.layers = [self._make_layer(k, rng) for k in rng.permutation(kinds)[:n_obj]]
        h, w = self.height, self.width
        self.corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], float)

    def _half_extent(self, scale: float) -> tuple[float, float]:
        c, s = math.cos(ROTATION_AMPLITUDE), math.sin(ROTATION_AMPLITUDE)
        w, h = self.width / 2, self.height / 2
        return scale * (w * c + h * s), scale * (w * s + h * c)

    def _fit_scale(self, sh: int, sw: int) -> float:
        hx, hy = self._half_extent(math.exp(ZOOM_AMPLITUDE))
        return 0.85 * min(((sw - 1) / 2 - 2) / hx, ((sh - 1) / 2 - 2) / hy)

    def _make_layer(self, kind: str, rng: np.random.Generator) -> _Layer:
        if kind == "minduka":
            tex = _sample_image("Minduka_Present_Blue_Pack.png")
        elif kind == "logo":
            tex = _sample_image("logo2.png")
        else:
            tex = _procedural_texture(rng, kind)
        if tex.shape[2] == 3:
            tex = np.dstack([tex, np.ones(tex.shape[:2], np.float32)])
        return _Layer(tex, rng, self.height, self.width)

    def camera_matrix(self, t: float) -> np.ndarray:
        """2x3 map from output pixels to photo pixels at time t (s)."""
        scale = self.s0 * math.exp(ZOOM_AMPLITUDE * self.zoom(t))
        center = (self.src_center[0] + self.ax * self.pan_x(t),
                  self.src_center[1] + self.ay * self.pan_y(t))
        return _affine(scale, ROTATION_AMPLITUDE * self.rot(t), center, self.out_center)

    def render(self, t: float, rgb: bool = True) -> np.ndarray:
        """Exact image at time t (s): float32 (H, W, 3) RGB, or (H, W) luminance, in [0, 1]."""
        cv2 = _cv2()
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        size = (self.width, self.height)
        out = cv2.warpAffine(self.src_rgb if rgb else self.src_luma, self.camera_matrix(t), size,
                             flags=flags, borderMode=cv2.BORDER_REFLECT_101)
        if not rgb:
            out = out[..., None]
        for layer in self.layers:  # premultiplied "over", in layer order
            o = cv2.warpAffine(layer.rgba if rgb else layer.luma, layer.matrix(t), size, flags=flags,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            over(out, o, 3 if rgb else 1)
        # convex combinations of values in [0, 1], but float32 rounding of the warp weights and of
        # premultiplied colour against alpha lands a few ulps above 1: clip so the promise holds exactly
        out = np.clip(out[..., :3] if rgb else out[..., 0], 0.0, 1.0)
        return np.ascontiguousarray(out)

    def displacement(self, ta: float, tb: float) -> float:
        """Largest image motion (px) of any scene point between times ta and tb."""
        back = _apply(_invert(self.camera_matrix(tb)), _apply(self.camera_matrix(ta), self.corners))
        d = float(np.max(np.hypot(*(back - self.corners).T)))
        for layer in self.layers:
            pa = _apply(_invert(layer.matrix(ta)), layer.corners)
            pb = _apply(_invert(layer.matrix(tb)), layer.corners)
            d = max(d, float(np.max(np.hypot(*(pb - pa).T))))
        return d

    def steps(self, ta: float, tb: float, max_px: float = 1.0, pieces: int = 4) -> int:
        """Render sub-steps for [ta, tb] so that motion per step is at most about `max_px`."""
        edges = np.linspace(ta, tb, pieces + 1)
        length = sum(self.displacement(a, b) for a, b in zip(edges[:-1], edges[1:]))
        return max(1, math.ceil(length / max_px))
