"""Official EGVSR / VideoINR state dicts -> our official-compatible models (key mapping, no file I/O).

Every official key is either mapped to one of ours (values reshaped only where a 1x1 conv becomes a
Linear or a (1,) scale a 0-d one, and VideoINR's (rel_y, rel_x) input columns swapped to our (x, y))
or listed as unused (modules the official forward never calls). An unknown official key, one of ours
that nothing fills, or a shape that does not fit is refused with the list. The model options are
read from the weights' shapes; what the weights do not fix (e.g. the TF window) keeps the preset's
value unless given in `options`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import Tensor

from egvsr.errors import CheckpointError, ConfigError

KINDS = ("egvsr-official", "videoinr-official")
UNUSED = "<unused>"


@dataclass
class Imported:
    """The result of a conversion: preset name, options, our state dict and the unused official keys."""

    name: str
    options: dict[str, Any]
    state_dict: dict[str, Tensor]
    unused: list[str] = field(default_factory=list)


def strip_module_prefix(state: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the `module.` prefix that nn.DataParallel / DDP training adds (all keys or none)."""
    keys = list(state)
    if keys and all(k.startswith("module.") for k in keys):
        return {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


#: the keys that tell each kind of official state dict (module prefix stripped)
SIGNATURES = {"egvsr-official": ("image_head.weight", "channel_up.weight"),
              "videoinr-official": ("conv_first.weight", "feat_imnet.net.0.linear.weight")}
_PAPERS = {"egvsr-official": "EGVSR", "videoinr-official": "VideoINR"}


def detected_kind(state: Mapping[str, Any]) -> str | None:
    """The kind whose characteristic keys (`SIGNATURES`) `state` holds, or None."""
    return next((kind for kind, keys in SIGNATURES.items() if all(k in state for k in keys)), None)


def detect_kind(state: Mapping[str, Any], where: str = "state dict") -> str:
    """'egvsr-official' or 'videoinr-official' from characteristic keys, else a CheckpointError
    (`where`: the source file, named first in every message) naming a characteristic key that is missing
    when the other one is there."""
    kind = detected_kind(state)
    if kind is not None:
        return kind
    if not state:
        raise CheckpointError(f"{where}: holds no weights (an empty state dict)")
    for kind, keys in SIGNATURES.items():
        have = [k for k in keys if k in state]
        if have:
            missing = next(k for k in keys if k not in state)
            raise CheckpointError(f"{where}: has {have[0]!r} of an official {_PAPERS[kind]} checkpoint but no "
                                  f"{missing!r}; the file is incomplete, or of another model")
    sample = ", ".join(list(state)[:5])
    raise CheckpointError(
        f"{where}: neither an official EGVSR (image_head, channel_up) nor VideoINR (conv_first, "
        f"feat_imnet) checkpoint; first keys: {sample}; pass --from to name the kind"
    )


def check_kind(state: Mapping[str, Any], kind: str, where: str) -> None:
    """Refuse a `kind` given for weights whose characteristic keys are those of the other kind."""
    other = detected_kind(state)
    if other is not None and other != kind:
        keys = ", ".join(repr(k) for k in SIGNATURES[other])
        raise CheckpointError(f"{where}: the weights look like {other} (they have {keys}), not `kind` {kind}; "
                              f"give `kind` {other} or leave it out to detect the kind")


# ---- tensors --------------------------------------------------------------------------------------
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
WEIGHT_KINDS = "dense real floating-point tensors (float16, bfloat16, float32 or float64)"


def tensor_problem(value: Tensor, integer_ok: bool = False) -> str | None:
    """What keeps `value` from being loaded as a weight, or None: a meta tensor (no values), a quantized,
    sparse or complex one (copying it into a weight fails or drops a part of it), a bool or, unless
    `integer_ok` (the model holds an integer buffer there), an integer one (such as int8 values whose
    quantization scale is elsewhere)."""
    if value.is_meta:
        return "a meta tensor (a shape without values)"
    if value.is_quantized:
        return f"a quantized tensor ({value.dtype})"
    if value.layout != torch.strided:
        return f"a sparse tensor ({value.layout})"
    if value.is_complex():
        return f"a complex tensor ({value.dtype})"
    if value.dtype in FLOAT_DTYPES or (integer_ok and value.dtype != torch.bool and not value.is_floating_point()):
        return None
    name = str(value.dtype).removeprefix("torch.")
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name} tensor"


def check_weight_tensors(weights: Iterable[tuple[str, Tensor]], where: Any,
                         integer_ok: Callable[[str], bool] = lambda key: False) -> None:
    """Refuse the first weight that is not a dense real floating-point tensor (`tensor_problem`), naming
    `where` (the file) and its key, before any is copied into a model."""
    for key, value in weights:
        problem = tensor_problem(value, integer_ok(key))
        if problem:
            raise CheckpointError(f"{where}: weight {key!r} is {problem}; expected {WEIGHT_KINDS}")


# ---- EGVSR ---------------------------------------------------------------------------------------
_LCB = {"shallow_image_cnn": "stf.image_shallow", "shallow_event_cnn": "stf.event_shallow",
        "deep_image_cnn": "stf.image_deep", "deep_event_cnn": "stf.event_deep"}
_HPB = {"encoder": "inp", "decoder_low": "low", "decoder_high": "high", "alise": "out"}
_ARFB_SCALES = {"1": UNUSED, "2": "w_x2.value", "3": "w_x1.value", "4": "w_skip.value", "5": "w_body.value"}
_RU = {"conv": "body.0", "relu": "body.1", "conv1": "body.2"}


def _arfb(rest: str) -> str | None:
    m = re.fullmatch(r"layer([12])\.(conv|relu|conv1)\.(weight|bias)", rest)
    if m:
        return f"ru{m[1]}.{_RU[m[2]]}.{m[3]}"
    m = re.fullmatch(r"layer([12])\.weight([12])\.scale", rest)
    if m:
        return f"ru{m[1]}.{'w_skip' if m[2] == '1' else 'w_body'}.value"
    m = re.fullmatch(r"weight([1-5])\.scale", rest)
    if m:
        return _ARFB_SCALES[m[1]]
    if rest == "layer4.conv.weight":
        return "out.0.weight"
    if rest == "alise.conv.weight":
        return "fuse.0.weight"
    return _gate(r"atten", rest, "attention")


def _gate(official: str, rest: str, ours: str) -> str | None:
    """The channel-attention gate's two convs: `<official>.conv_du.{0,2}.*` -> `<ours>.gate.{0,2}.*`."""
    m = re.fullmatch(official + r"\.conv_du\.([02])\.(weight|bias)", rest)
    return f"{ours}.gate.{m[1]}.{m[2]}" if m else None


def egvsr_key(key: str) -> str | None:
    """Our key for an official EGVSR key, UNUSED, or None when unknown."""
    head, _, rest = key.partition(".")
    if head in _LCB:
        if re.fullmatch(r"reduce\.(weight|bias)", rest):
            return f"{_LCB[head]}.fuse.{rest.split('.')[1]}"
        m = re.fullmatch(r"hpbs\.(\d+)\.(.+)", rest)
        if not m:
            return None
        block, sub = f"{_LCB[head]}.blocks.{m[1]}", m[2]
        part, _, inner = sub.partition(".")
        if part in _HPB:
            mapped = _arfb(inner)
            return mapped if mapped in (None, UNUSED) else f"{block}.{_HPB[part]}.{mapped}"
        if sub == "alise2.conv.weight":
            return f"{block}.fuse.0.weight"
        return _gate(r"att", sub, f"{block}.attention")
    m = re.fullmatch(r"(shallow|deep)_fusion_transformer\.mlab\.ets\.(\d+)\.(.+)", key)
    if m:
        sub = {"attention.reduce": "attn.reduce", "attention.qkv": "attn.qkv", "attention.proj": "attn.proj",
               "mlp.fc1": "mlp.0", "mlp.fc2": "mlp.2", "norm1": "norm1", "norm2": "norm2"}
        name, _, leaf = m[3].rpartition(".")
        return f"stf.{m[1]}_fusion.layers.{m[2]}.{sub[name]}.{leaf}" if name in sub else None
    m = re.fullmatch(r"(image_head|event_head|channel_up)\.(weight|bias)", key)
    if m:
        return f"stf.{'to_volume' if m[1] == 'channel_up' else m[1]}.{m[2]}"
    m = re.fullmatch(r"up_model\.decoder\.net\.(\d+)\.(weight|bias)", key)
    if m:
        return f"stir.decoder.{m[1]}.{m[2]}"
    if key in ("up_model.inr_weight.scale", "up_model.event_weight.scale"):
        return "stir.w_inr.value" if "inr" in key else "stir.w_ev.value"
    m = re.fullmatch(r"event_residual_connection\.sampler_module\.(\d+)\.(weight|bias)", key)
    return f"tf.mlp.{m[1]}.{m[2]}" if m else None


def _count(shapes: Mapping[str, Any], pattern: str) -> int:
    return len({m[1] for k in shapes if (m := re.fullmatch(pattern, k))})


CONV, LINEAR, ONE_BY_ONE, VECTOR = (4,), (2,), (4, 2), (1,)  # the ranks a weight the options are read from may have


def _shape(shapes: Mapping[str, Any], key: str, ranks: tuple[int, ...], where: str) -> tuple[int, ...]:
    """The shape of weight `key`, which the model options are read from: present, of one of `ranks`
    (a 1x1 conv may come as a Linear) and with no size 0, else a CheckpointError naming it."""
    if key not in shapes:
        raise CheckpointError(f"{where}: key {key!r} missing; it is needed to read the model size")
    v = shapes[key]
    shape = tuple(int(s) for s in (v.shape if isinstance(v, Tensor) else v))
    if len(shape) not in ranks or 0 in shape:
        rank = " or ".join(f"{r}-d" for r in ranks)
        raise CheckpointError(f"{where}: key {key!r} has shape {shape}, expected a {rank} weight with no size 0 "
                              "(the model size is read from it)")
    return shape


def egvsr_options(shapes: Mapping[str, Any], where: str = "state dict") -> dict[str, Any]:
    """EGVSR options read from the official weights' shapes (a mapping key -> tensor or shape)."""
    n_feats, in_ch = _shape(shapes, "image_head.weight", CONV, where)[:2]
    events_in = _shape(shapes, "event_head.weight", CONV, where)[1]
    inr = _shape(shapes, "up_model.decoder.net.0.weight", ONE_BY_ONE, where)[1]
    volume = _shape(shapes, "channel_up.weight", ONE_BY_ONE, where)[0]
    tf_hidden, tf_in = _shape(shapes, "event_residual_connection.sampler_module.0.weight", ONE_BY_ONE, where)[:2]
    token_dim = _shape(shapes, "shallow_fusion_transformer.mlab.ets.0.norm1.weight", VECTOR, where)[0]
    patch = round((token_dim / (2 * n_feats)) ** 0.5)
    layers = _count(shapes, r"(?:shallow|deep)_fusion_transformer\.mlab\.ets\.(\d+)\..*")
    problems = []
    if in_ch % 3 or events_in % 2 or volume % inr or tf_in % 2 or (tf_in // 2) % 2 == 0:
        problems.append(f"channel counts image {in_ch}, events {events_in}, latent {volume}, TF {tf_in}")
    if layers != 1:
        problems.append(f"{layers} transformer layers per fusion block (only 1 is supported)")
    if patch * patch * 2 * n_feats != token_dim:
        problems.append(f"token width {token_dim} is not patch^2 * 2 * n_feats")
    depths = {lcb: _count(shapes, rf"{lcb}\.hpbs\.(\d+)\..*") for lcb in _LCB}
    if len(set(depths.values())) > 1:  # the official shallow_cnn_depth and deep_cnn_depth may differ
        problems.append("HPBs per CNN " + ", ".join(f"{lcb} {n}" for lcb, n in depths.items())
                        + " (shallow_cnn_depth and deep_cnn_depth differ; our model has one lcb_depth for all)")
    if problems:
        raise CheckpointError(f"{where}: unsupported official EGVSR layout: " + "; ".join(problems))
    tf_layers = _count(shapes, r"event_residual_connection\.sampler_module\.(\d+)\.weight")
    return {
        "num_frames": in_ch // 3, "moments": events_in // 2, "polarities": 2, "n_feats": n_feats,
        "inr_channels": inr, "time_bins": volume // inr,
        "lcb_depth": depths["shallow_image_cnn"], "patch_size": patch,
        "tf_samples": (tf_in // 2 - 1) // 2, "tf_layers": tf_layers,
        "tf_hidden": tf_hidden if tf_layers > 1 else 64,
        "decoder_layers": _count(shapes, r"up_model\.decoder\.net\.(\d+)\.weight"),
    }


# ---- VideoINR ------------------------------------------------------------------------------------
_PYRAMID = {"fea_L2_conv1": "l2.0", "fea_L2_conv2": "l2.1", "fea_L3_conv1": "l3.0", "fea_L3_conv2": "l3.1"}
_SIRENS = {"feat_imnet": "decoder.spatial", "flow_imnet": "decoder.flow", "encode_imnet": "decoder.rgb"}
VIDEOINR_UNUSED = ("upconv1", "upconv2", "HRconv", "conv_last")


def _pcd(rest: str) -> str | None:
    """Our key inside a PCDAlign for an official `pcd_align.` key remainder."""
    m = re.fullmatch(r"L(\d)_(offset_conv\d|dcnpack|fea_conv)_([12])\.(.+)", rest)
    if not m:
        return None
    level, part, d, leaf = m[1], m[2], m[3], m[4]
    direction = "forward_dir" if d == "1" else "backward_dir"
    leaf = leaf.replace("conv_offset_mask", "offset_mask")
    if level == "3":
        sub = {"offset_conv1": "l3_offset.0", "offset_conv2": "l3_offset.1", "dcnpack": "l3_dcn"}.get(part)
    else:
        i = "0" if level == "2" else "1"
        sub = {"offset_conv1": f"offset.{i}.0", "offset_conv2": f"offset.{i}.1", "offset_conv3": f"offset.{i}.2",
               "dcnpack": f"dcn.{i}", "fea_conv": f"fea.{i}"}.get(part)
    return f"{direction}.{sub}.{leaf}" if sub else None


def videoinr_key(key: str) -> str | None:
    """Our key for an official VideoINR (LunaTokis) key, UNUSED, or None when unknown."""
    head, _, rest = key.partition(".")
    if head in VIDEOINR_UNUSED:
        return UNUSED
    if head == "conv_first":
        return f"encoder.head.{rest}"
    if head in ("feature_extraction", "recon_trunk"):
        return f"encoder.{'front' if head == 'feature_extraction' else 'trunk'}.{rest}"
    if head in _PYRAMID:
        return f"encoder.pyramid.{_PYRAMID[head]}.{rest}"
    if head == "pcd_align":
        mapped = _pcd(rest)
        return f"encoder.interpolate.{mapped}" if mapped else None
    if head == "fusion":
        return f"encoder.interpolate.fusion.{rest}"
    m = re.fullmatch(r"ConvBLSTM\.forward_net\.(pcd_[hc])\.(.+)", key)
    if m:
        top, _, sub = m[2].partition(".")
        if top in _PYRAMID:
            return f"encoder.lstm.{m[1]}.pyramid.{_PYRAMID[top]}.{sub}"
        if top == "pcd_align":
            mapped = _pcd(sub)
            return f"encoder.lstm.{m[1]}.align.{mapped}" if mapped else None
        return f"encoder.lstm.{m[1]}.align.fusion.{sub}" if top == "fusion" else None
    if key.startswith("ConvBLSTM.forward_net.cell_list.0.conv."):
        return f"encoder.lstm.cell.{key.rsplit('.', 1)[1]}"
    if key.startswith("ConvBLSTM.conv_1x1."):
        return f"encoder.lstm.fuse.{key.rsplit('.', 1)[1]}"
    m = re.fullmatch(r"(feat_imnet|flow_imnet|encode_imnet)\.net\.(\d+)\.(?:linear\.)?(weight|bias)", key)
    return f"{_SIRENS[m[1]]}.layers.{m[2]}.{m[3]}" if m else None


def _siren_widths(shapes: Mapping[str, Any], name: str, where: str) -> tuple[list[int], int, int]:
    n = _count(shapes, rf"{name}\.net\.(\d+)\..*")
    outs = [_shape(shapes, f"{name}.net.{i}.linear.weight" if i < n - 1 else f"{name}.net.{i}.weight", LINEAR,
                   where)[0] for i in range(n)]
    return outs[:-1], outs[-1], _shape(shapes, f"{name}.net.0.linear.weight", LINEAR, where)[1]


def videoinr_options(shapes: Mapping[str, Any], where: str = "state dict") -> dict[str, Any]:
    """VideoINR options read from the official weights' shapes."""
    nf = _shape(shapes, "conv_first.weight", CONV, where)[0]
    offsets = _shape(shapes, "pcd_align.L3_dcnpack_1.conv_offset_mask.weight", CONV, where)[0]
    s_hidden, s_out, s_in = _siren_widths(shapes, "feat_imnet", where)
    f_hidden, f_out, f_in = _siren_widths(shapes, "flow_imnet", where)
    r_hidden, r_out, r_in = _siren_widths(shapes, "encode_imnet", where)
    c = 3 * nf
    if (s_in, f_in, r_in, f_out, r_out) != (c + 9, s_out + c + 7, 2 * s_out + 2 * c + 13, 4, 3) or offsets % 27:
        raise CheckpointError(
            f"{where}: unsupported official VideoINR layout (SIREN inputs {s_in}/{f_in}/{r_in}, "
            f"outputs {f_out}/{r_out} for nf={nf}; expected {c + 9}/{s_out + c + 7}/{2 * s_out + 2 * c + 13}, 4/3)"
        )
    return {
        "nf": nf, "groups": offsets // 27, "front_blocks": _count(shapes, r"feature_extraction\.(\d+)\..*"),
        "back_blocks": _count(shapes, r"recon_trunk\.(\d+)\..*"), "spatial_hidden": s_hidden,
        "spatial_out": s_out, "flow_hidden": f_hidden, "rgb_hidden": r_hidden,
    }


def _swap_rel_columns(value: Tensor, nf: int) -> Tensor:
    """feat_imnet's first layer: official inputs (..., rel_y, rel_x, t) -> ours (..., rel_x, rel_y, t)."""
    c = 3 * nf + 6
    out = value.clone()
    out[:, [c, c + 1]] = value[:, [c + 1, c]]
    return out


# ---- shared --------------------------------------------------------------------------------------
def map_keys(keys: list[str], rule: Callable[[str], str | None], kind: str,
             where: str = "state dict") -> tuple[dict[str, str], list[str]]:
    """({official: ours}, unused official keys); every unknown key refused in one message."""
    mapping, unused, unknown = {}, [], []
    for k in keys:
        ours = rule(k)
        if ours is None:
            unknown.append(k)
        elif ours == UNUSED:
            unused.append(k)
        else:
            mapping[k] = ours
    twice = sorted({v for v in mapping.values() if list(mapping.values()).count(v) > 1})
    if twice:
        raise CheckpointError(f"{where}: several official keys map to {', '.join(twice[:5])}")
    if unknown:
        raise CheckpointError(f"{where}: {len(unknown)} key(s) unknown to the {kind} converter: "
                              + ", ".join(unknown[:20]) + (" ..." if len(unknown) > 20 else ""))
    return mapping, unused


def _fit(value: Tensor, shape: torch.Size, official: str, ours: str, where: str) -> Tensor:
    """`value` reshaped to `shape` when only size-1 axes differ (1x1 conv -> Linear, (1,) -> 0-d)."""
    if tuple(value.shape) == tuple(shape):
        return value
    if [s for s in value.shape if s != 1] != [s for s in shape if s != 1]:
        raise CheckpointError(
            f"{where}: key {official!r} has shape {tuple(value.shape)}, but {ours!r} needs {tuple(shape)}"
        )
    return value.reshape(shape)


def _free_options(options: Mapping[str, Any] | None, fixed: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The caller's model `options`, refusing one the weights' shapes already fix to another value
    (a width or a count: the weights would not fit the model it asks for)."""
    options = dict(options or {})
    for key, value in options.items():
        if key in fixed and value != fixed[key]:
            raise ConfigError(f"`options` {key}={value!r}: the weights of {where} fix {key} to {fixed[key]!r}; "
                              "set only options the weights do not fix")
    return options


def convert(state: Mapping[str, Tensor], kind: str | None = None,
            options: Mapping[str, Any] | None = None, where: str = "state dict") -> Imported:
    """Convert an official state dict (prefix `module.` allowed) into our preset `kind` (detected
    when None): model options from the shapes (plus `options`), our state dict, unused keys.
    `where` (the source file) starts every error message."""
    from egvsr.models.registry import build_model

    given, state = state, strip_module_prefix(state)
    kind = kind or detect_kind(state, where)
    if kind not in KINDS:
        raise CheckpointError(f"`kind` {kind!r}: expected one of {', '.join(KINDS)}")
    check_kind(state, kind, where)
    bad = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"{where}: values of {', '.join(bad[:5])} are not tensors")
    check_weight_tensors(given.items(), where)  # named as in the file
    egvsr = kind == "egvsr-official"
    fixed = egvsr_options(state, where) if egvsr else videoinr_options(state, where)
    opts = {**fixed, **_free_options(options, fixed, where)}
    mapping, unused = map_keys(list(state), egvsr_key if egvsr else videoinr_key, kind, where)
    with torch.device("meta"):
        try:
            target = build_model(kind, **opts).state_dict()
        except ConfigError as exc:  # options read from the weights (or given) that our model refuses
            raise ConfigError(f"{where}: {'`options`: ' if options else ''}{exc}") from None
    extra = sorted(k for k, ours in mapping.items() if ours not in target)
    if extra:
        raise CheckpointError(f"{where}: {len(extra)} official key(s) map to no weight of our {kind} model: "
                              + ", ".join(f"{k} ({mapping[k]})" for k in extra[:20])
                              + (" ..." if len(extra) > 20 else ""))
    missing = sorted(set(target) - set(mapping.values()))
    if missing:
        raise CheckpointError(f"{where}: {len(missing)} weight(s) of our {kind} model have no official key: "
                              + ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else ""))
    out = {}
    for official, ours in mapping.items():
        value = state[official].detach().to(torch.float32)
        if not egvsr and official == "feat_imnet.net.0.linear.weight":
            value = _swap_rel_columns(value, opts["nf"])
        out[ours] = _fit(value, target[ours].shape, official, ours, where).contiguous()
    return Imported(kind, opts, out, unused)
