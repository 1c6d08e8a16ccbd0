"""Model size from its options alone: parameters, layers and activation memory, before anything is built.

A model may be built from the options of an untrusted checkpoint or config; `check_model_size` refuses
oversized options with the figures, without allocating (docs/models.md). Parameter counts are exact
(one formula per module, tested against built models); activation memory estimates the float32
feature maps alive in one inference forward over `REFERENCE_LR` pixels (`activations_at`: any LR
size, which `egvsr render` plans with).
"""

from __future__ import annotations

import os
from dataclasses import MISSING, dataclass, fields, is_dataclass
from typing import Any, Sequence

from egvsr.errors import ConfigError
from egvsr.fsutil import fmt_size

#: Default limit on weights + activations, in GB; the environment variable raises or lowers it.
MAX_MODEL_GB = 32.0
LIMIT_ENV = "EGVSR_MAX_MODEL_GB"
#: Most conv/linear layers a model may have (building each costs Python objects and time).
MAX_LAYERS = 100_000
#: LR size (H, W) the activation figure is given for: a 720p frame at x4.
REFERENCE_LR = (180, 320)
FLOAT_BYTES = 4


#: tokens one call of the square-window attention holds (fusion_transformer.WINDOW_BATCH_TOKENS)
WINDOW_BATCH_TOKENS = 16384
#: score-sized tensors alive at once in 'math' attention: the scaled scores and their softmax
SCORE_COPIES = 2


@dataclass(frozen=True)
class AttentionScores:
    """The score matrices that 'math' attention materializes: `heads` x n x n floats per window of n
    tokens, for `per_call` tokens' worth of windows at once. `window` 0 is the official split (four
    windows of a quarter of the map each, so the scores grow with the square of the pixels)."""

    heads: int
    window: int
    per_call: int = 0

    def bytes_at(self, pixels: int) -> int:
        """Bytes of the scores alive at once for an LR input of `pixels` pixels."""
        n = max(1, pixels // 4) if self.window == 0 else min(self.window, pixels)
        at_once = min(max(self.per_call, n), max(pixels, n))
        return SCORE_COPIES * FLOAT_BYTES * self.heads * n * at_once


@dataclass(frozen=True)
class SizeEstimate:
    """Parameters (exact), conv/linear layers (exact) and activation bytes at `REFERENCE_LR`; with
    `pixel_bytes` (feature maps per LR pixel) and `scores` (math attention), at any LR size too."""

    parameters: int
    layers: int
    activation_bytes: int
    pixel_bytes: int = 0
    scores: AttentionScores | None = None

    @property
    def weight_bytes(self) -> int:
        return FLOAT_BYTES * self.parameters

    @property
    def total_bytes(self) -> int:
        return self.weight_bytes + self.activation_bytes

    def activations_at(self, lr_size: Sequence[int]) -> int:
        """Bytes of activations alive at once in one inference call on an LR input of `lr_size` (H, W):
        the per-pixel feature maps and the attention scores, else `activation_bytes` scaled by the pixels."""
        pixels = int(lr_size[0]) * int(lr_size[1])
        if not self.pixel_bytes:
            return self.activation_bytes * pixels // (REFERENCE_LR[0] * REFERENCE_LR[1])
        return self.pixel_bytes * pixels + (self.scores.bytes_at(pixels) if self.scores else 0)


def _with_pixel_bytes(parameters: int, layers: int, pixel_bytes: int,
                      scores: AttentionScores | None = None) -> SizeEstimate:
    """A `SizeEstimate` whose `activation_bytes` is its figure at `REFERENCE_LR`."""
    partial = SizeEstimate(parameters, layers, 0, pixel_bytes, scores)
    return SizeEstimate(parameters, layers, partial.activations_at(REFERENCE_LR), pixel_bytes, scores)


# ---- building blocks: (parameters, layers) ----------------------------------------------------------
def conv(cin: int, cout: int, k: int, bias: bool = True) -> tuple[int, int]:
    """nn.Conv2d(cin, cout, k)."""
    return cout * cin * k * k + (cout if bias else 0), 1


def linear(cin: int, cout: int, bias: bool = True) -> tuple[int, int]:
    """nn.Linear(cin, cout)."""
    return cout * cin + (cout if bias else 0), 1


def total(*parts: tuple[int, int], times: int = 1) -> tuple[int, int]:
    """Sum of (parameters, layers) pairs, `times` over."""
    return times * sum(p for p, _ in parts), times * sum(n for _, n in parts)


def _scalars(n: int) -> tuple[int, int]:
    return n, 0


# ---- EGVSR (blocks_lcb, fusion_transformer, egvsr_stf / _tf / _stir) ------------------------------------
def _gate(c: int, official: bool) -> tuple[int, int]:
    mid = max(c // 16, 1) if official else max(c // 16, min(4, c))
    return total(conv(c, mid, 1), conv(mid, c, 1))


def _residual_unit(c: int, official: bool) -> tuple[int, int]:
    half = max(c // 2, 1)
    return total(conv(c, half, 3), _scalars(half if official else 1), conv(half, c, 3), _scalars(2))


def _arfb(c: int, official: bool) -> tuple[int, int]:
    return total(total(_residual_unit(c, official), times=2), conv(2 * c, c, 1, bias=False), _gate(c, official),
                 conv(c, c, 3, bias=not official), _scalars(4 if official else 2))


def _hpb(c: int, official: bool) -> tuple[int, int]:
    return total(total(_arfb(c, official), times=4), conv(2 * c, c, 1, bias=not official), _gate(c, official))


def _lcb(c: int, depth: int, official: bool) -> tuple[int, int]:
    return total(total(_hpb(c, official), times=depth), conv(depth * c, c, 3))


def _transformer(channels: int, patch: int, official: bool) -> tuple[int, int]:
    dim = channels * patch * patch
    inner = dim // 2
    return total(_scalars(4 * dim), linear(dim, inner, bias=not official), linear(inner, 3 * inner, bias=False),
                 linear(inner, dim), linear(dim, dim // 4), linear(dim // 4, dim))


def mlp(cin: int, hidden: int, cout: int, layers: int) -> tuple[int, int]:
    """egvsr_tf.pointwise_mlp: `layers` Linear layers cin -> hidden ... -> cout."""
    if layers == 1:
        return linear(cin, cout)
    return total(linear(cin, hidden), total(linear(hidden, hidden), times=layers - 2), linear(hidden, cout))


def egvsr_size(o: Any, official: bool) -> SizeEstimate:
    """EGVSR / egvsr-official from its options."""
    nf, depth, c = o.n_feats, o.lcb_depth, o.inr_channels
    stf = total(conv(3 * o.num_frames, nf, 3), conv(o.moments * o.polarities, nf, 3),
                total(_lcb(nf, depth, official), times=4), total(_transformer(2 * nf, o.patch_size, official), times=2),
                conv(2 * nf, o.time_bins * c, 1))
    tf = mlp((2 * o.tf_samples + 1) * o.polarities, o.tf_hidden, c, o.tf_layers)
    stir = total(_scalars(2), mlp(c + (4 if o.local_ensemble else 0), c, 3, o.decoder_layers))
    params, layers = total(stf, tf, stir)
    # alive at once per LR pixel: both branches, an LCB's concatenated HPB outputs (+ one HPB's inside),
    # or the patch tokens of a fusion (tokens, layer output, fold), plus the inputs and the volume
    lcb = 2 * nf + 2 * depth * nf + 12 * nf
    tokens = 2 * nf + 3 * (2 * nf * o.patch_size ** 2)
    per_pixel = max(lcb, tokens) + 3 * o.num_frames + o.moments * o.polarities + o.time_bins * c \
        + (2 * o.tf_samples + 1) * o.polarities + o.tf_hidden
    return _with_pixel_bytes(params, layers, FLOAT_BYTES * per_pixel, egvsr_scores(o, official))


def egvsr_scores(o: Any, official: bool) -> AttentionScores | None:
    """EGVSR's attention scores (`fusion_transformer`): none with sdpa (never materialized); with 'math',
    one strip of `window_tokens` at a time, square windows batched by `WINDOW_BATCH_TOKENS`, or the
    official quarters of the map."""
    if o.attention != "math":
        return None
    if official:
        return AttentionScores(o.heads, 0)
    window = getattr(o, "window_size", 0) ** 2
    if window:
        return AttentionScores(o.heads, window, max(window, WINDOW_BATCH_TOKENS // window * window))
    return AttentionScores(o.heads, o.window_tokens)


def egvsr_decode_floats(o: Any) -> int:
    """Floats EGVSR's decoding keeps per output pixel for backward: the TF MLP's layers (and its 2N+1
    samples when naive), the latent read and its fusion, the decoder's layers and the RGB (x4 with
    the local ensemble). Counted low (not the RGB steps after the decoder): 0.75x to 0.9x of the
    measured peak of a forward with autograd (call_memory)."""
    c = o.inr_channels
    tf_in = (2 * o.tf_samples + 1) * o.polarities if o.tf_mode == "naive" else 0
    stir = 3 * c + c * (o.decoder_layers - 1) + 3
    return tf_in + o.tf_hidden * (o.tf_layers - 1) + c + stir * (4 if o.local_ensemble else 1)


# ---- VideoINR (videoinr_encoder, deform_conv, siren) ---------------------------------------------------
def _dcn(nf: int, groups: int) -> tuple[int, int]:
    return total(_scalars(nf * nf * 9 + nf), conv(nf, 3 * groups * 9, 3))


def _pyramid(nf: int) -> tuple[int, int]:
    return total(conv(nf, nf, 3), times=4)


def _pcd_direction(nf: int, groups: int) -> tuple[int, int]:
    return total(conv(2 * nf, nf, 3), conv(nf, nf, 3), _dcn(nf, groups),
                 total(conv(2 * nf, nf, 3), conv(2 * nf, nf, 3), conv(nf, nf, 3), times=2),
                 total(_dcn(nf, groups), times=2), total(conv(2 * nf, nf, 3), times=2))


def _pcd_align(nf: int, groups: int) -> tuple[int, int]:
    return total(total(_pcd_direction(nf, groups), times=2), conv(2 * nf, nf, 1))


def siren(cin: int, hidden: Sequence[int], cout: int) -> tuple[int, int]:
    """siren.Siren: one Linear per consecutive pair of widths."""
    dims = [cin, *hidden, cout]
    return total(*(linear(a, b) for a, b in zip(dims[:-1], dims[1:])))


def videoinr_size(o: Any) -> SizeEstimate:
    """VideoINR from its options (all decoders have the same parameters)."""
    nf, g = o.nf, o.groups
    block = total(conv(nf, nf, 3), times=2)
    lstm = total(total(_pyramid(nf), _pcd_align(nf, g), times=2), conv(2 * nf, 4 * nf, 3), conv(2 * nf, nf, 1))
    encoder = total(conv(3, nf, 3), total(block, times=o.front_blocks), _pyramid(nf), _pcd_align(nf, g), lstm,
                    total(block, times=o.back_blocks))
    c, s = 3 * nf, o.spatial_out
    decoder = total(siren(c + 9, o.spatial_hidden, s), siren(s + c + 7, o.flow_hidden, 4),
                    siren(2 * s + 2 * c + 13, o.rgb_hidden, 3))
    params, layers = total(encoder, decoder)
    # the encoder's maps of two frames, three time steps and the aligned LSTM states; the offset
    # convs' 27*groups channels; the decoder's LR projections of the first SIREN layers
    per_pixel = 48 * nf + 2 * 27 * g + o.spatial_hidden[0] + o.flow_hidden[0] + 2 * o.rgb_hidden[0]
    return _with_pixel_bytes(params, layers, FLOAT_BYTES * per_pixel)


def videoinr_decode_floats(o: Any) -> int:
    """Floats VideoINR's decoding keeps per output pixel for backward: the SpatialINR at the pixel and
    at its two warped points (each read from 4 neighbours), the flow SIREN, the RGB SIREN and the
    output; about 0.5x of the measured peak (the gathers' indices and copies are left out)."""
    spatial = sum(o.spatial_hidden) + o.spatial_out
    return 2 + 2 * spatial + sum(o.flow_hidden) + 4 + 2 * 5 * o.spatial_out + sum(o.rgb_hidden) + 3 + 6


def bicubic_size(o: Any) -> SizeEstimate:
    """The bicubic baseline: no parameters, the frames it reads."""
    return _with_pixel_bytes(0, 0, FLOAT_BYTES * 6)


# ---- the check ----------------------------------------------------------------------------------------
def limit_gb() -> float:
    """The limit in GB: `EGVSR_MAX_MODEL_GB` when set (a positive number), else `MAX_MODEL_GB`."""
    text = os.environ.get(LIMIT_ENV, "").strip()
    if not text:
        return MAX_MODEL_GB
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value != float("inf")):
        raise ConfigError(f"environment variable {LIMIT_ENV}={text!r}: expected a positive number of GB")
    return value


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def size_options(options: Any) -> list[str]:
    """The options of `options` (a model's options dataclass) that size it (whole numbers and lists of
    them), those above their defaults first: what a refusal tells the user to check. Each family's own
    names, so a VideoINR config is not told to check EGVSR's `n_feats`."""
    if not is_dataclass(options):
        return []
    grown, sizes = [], []
    for f in fields(options):
        value = getattr(options, f.name)
        default = f.default_factory() if f.default is MISSING else f.default
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        if not items or not all(_whole(v) for v in items):
            continue
        sizes.append(f.name)
        ref = list(default) if isinstance(default, (list, tuple)) else [default]
        if all(_whole(v) for v in ref) and (len(items) > len(ref) or max(items) > max(ref, default=0)):
            grown.append(f.name)
    return grown or sizes


def check_model_size(name: str, size: SizeEstimate, options: Any = None) -> SizeEstimate:
    """Refuse a model `name` whose `size` exceeds the memory limit or `MAX_LAYERS`; return `size`.
    `options` (the model's options dataclass) lets the refusal name the options to check."""
    limit = limit_gb()
    named = ", ".join(size_options(options)) or "the widths and depths"
    if size.total_bytes > limit * 1e9:
        h, w = REFERENCE_LR
        raise ConfigError(
            f"model {name!r}: the options give {size.parameters:,} parameters ({fmt_size(size.weight_bytes)}) "
            f"and about {fmt_size(size.activation_bytes)} of activations for one {h}x{w} LR input, above the "
            f"limit of {limit:g} GB (check {named}; set {LIMIT_ENV} to raise the limit)"
        )
    if size.layers > MAX_LAYERS:
        raise ConfigError(
            f"model {name!r}: the options give {size.layers:,} layers, expected at most {MAX_LAYERS:,} "
            f"(check {named})"
        )
    return size
