"""Bad inputs and bad configs stop with the toolkit's own errors and a message naming the culprit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from egvsr.errors import ConfigError, EgvsrError, EventValidationError
from egvsr.models import build_model


@pytest.fixture(scope="module")
def egvsr():
    torch.manual_seed(0)
    return build_model("egvsr-tiny")


def good(h: int = 5, w: int = 6):
    return torch.rand(1, 3, 3, h, w), torch.zeros(1, 1), torch.rand(1, 8, 2, h, w)


@pytest.mark.parametrize("size", [(0, 0), (0, 12), (-10, 12)])
def test_scale_not_positive(egvsr, size):
    lr, t, ev = good()
    with pytest.raises(ConfigError, match=r"out_size .*scale .*must be > 0"):
        egvsr.render(lr, t, size, events=ev)


def test_scale_above_cap_and_configurable_cap():
    lr, t, ev = good()
    for name in ("egvsr-tiny", "videoinr-tiny", "bicubic"):
        model = build_model(name)
        with pytest.raises(ConfigError, match=r"scale 17 .*exceeds max_scale=16"):
            model.render(lr, t, (85, 102), events=ev)
    out = build_model("bicubic", max_scale=20).render(lr, t, (85, 102))
    assert out.shape[-2:] == (85, 102)


def test_frames_and_events_of_different_sizes(egvsr):
    lr, t, _ = good()
    with pytest.raises(EventValidationError, match=r"events: spatial size 5x7 differs from the frames' 5x6"):
        egvsr.render(lr, t, (10, 12), events=torch.rand(1, 8, 2, 5, 7))


@pytest.mark.parametrize("shape, pattern", [
    ((1, 3, 4, 5, 6), r"lr: expected 3 \(RGB\) channels"),
    ((1, 3, 1, 5, 6), r"lr: expected 3 \(RGB\) channels"),
    ((1, 2, 3, 5, 6), r"num_frames=3 .* got K=2"),
    ((3, 3, 5, 6), r"lr: expected 5 dimensions"),
])
def test_wrong_frame_tensor(egvsr, shape, pattern):
    _, t, ev = good()
    with pytest.raises(EventValidationError, match=pattern):
        egvsr.render(torch.rand(*shape), t, (10, 12), events=ev)


@pytest.mark.parametrize("shape", [(1, 7, 2, 5, 6), (1, 8, 1, 5, 6), (1, 16, 5, 6)])
def test_wrong_event_channels(egvsr, shape):
    lr, t, _ = good()
    with pytest.raises(EventValidationError, match=r"events: expected"):
        egvsr.render(lr, t, (10, 12), events=torch.rand(*shape))


def test_missing_events_and_integer_tensors(egvsr):
    lr, t, ev = good()
    with pytest.raises(EventValidationError, match=r"events: this model needs an event tensor"):
        egvsr.render(lr, t, (10, 12))
    with pytest.raises(EventValidationError, match=r"lr: expected a floating-point tensor"):
        egvsr.render((lr * 255).to(torch.uint8), t, (10, 12), events=ev)
    with pytest.raises(EventValidationError, match=r"events: batch size 2 differs"):
        egvsr.render(lr, t, (10, 12), events=torch.cat([ev, ev]))


@pytest.mark.parametrize("times", [[[1.5]], [[-1.01]], [[float("nan")]], [[0.0, 2.0]]])
def test_times_outside_window(egvsr, times):
    lr, _, ev = good()
    with pytest.raises(ConfigError, match=r"times: "):
        egvsr.render(lr, torch.tensor(times), (10, 12), events=ev)


def test_bad_frame_times_and_frame_count():
    lr, t, _ = good()
    model = build_model("videoinr-tiny")
    with pytest.raises(EventValidationError, match=r"frame_times: expected strictly increasing"):
        model.render(lr, t, (10, 12), frame_times=torch.tensor([-1.0, 0.5, 0.2]))
    with pytest.raises(EventValidationError, match=r"frame_times: expected K=3"):
        model.render(lr, t, (10, 12), frame_times=torch.tensor([-1.0, 1.0]))
    with pytest.raises(EventValidationError, match=r"at least 2 input frames"):
        model.render(lr[:, :1], t, (10, 12))


def test_bad_chunk_and_out_size(egvsr):
    lr, t, ev = good()
    with pytest.raises(ConfigError, match=r"chunk_size"):
        egvsr.render(lr, t, (10, 12), events=ev, chunk_size=0)
    with pytest.raises(ConfigError, match=r"out_size: expected two integers"):
        egvsr.render(lr, t, (10.5, 12), events=ev)


@pytest.mark.parametrize("args, pattern", [
    (("nope",), r"unknown model 'nope'; registered models: .*egvsr"),
    (({"n_feats": 8},), r"expected a 'name' key"),
    ((42,), r"expected a model name or a config mapping, got int"),
])
def test_registry_errors(args, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_model(*args)


@pytest.mark.parametrize("overrides, pattern", [
    ({"n_feat": 8}, r"unknown option\(s\) \['n_feat'\]"),
    ({"n_feats": 0}, r"option 'n_feats': expected a value >= 1"),
    ({"n_feats": "big"}, r"option 'n_feats': expected an integer"),
    ({"fold": "max"}, r"option 'fold': expected one of \['mean', 'sum'\]"),
    ({"local_ensemble": 1}, r"option 'local_ensemble': expected true/false"),
    ({"heads": 5}, r"not divisible by heads=5"),
    ({"patch_size": 2}, r"'patch_size' must be odd"),
    ({"output_activation": "sigmoid"}, r"sigmoid.*residual"),
    ({"max_scale": 0}, r"option 'max_scale': expected a value >= 1e-06"),
])
def test_bad_egvsr_options(overrides, pattern):
    with pytest.raises(ConfigError, match=pattern):
        build_model("egvsr-tiny", **overrides)


def test_bad_videoinr_options():
    with pytest.raises(ConfigError, match=r"groups=3 must divide nf=8"):
        build_model("videoinr-tiny", groups=3)
    with pytest.raises(ConfigError, match=r"spatial_hidden.*positive integers"):
        build_model("videoinr-tiny", spatial_hidden=[16, 0])


def test_errors_are_egvsr_errors_not_torch_tracebacks(egvsr):
    """Every failure above is an EgvsrError: the CLI prints it as one line."""
    assert issubclass(ConfigError, EgvsrError) and issubclass(EventValidationError, EgvsrError)
    lr, t, ev = good()
    with pytest.raises(EgvsrError):
        egvsr.render(lr, t, (10, 12), events=ev.double()[..., :3])


@pytest.mark.parametrize("name", ["egvsr-tiny", "videoinr-tiny", "bicubic"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_float_dtypes_are_cast_to_the_model_dtype(name, dtype):
    """float64 frames (from NumPy) or half inputs run on a float32 model; the output is the model's dtype."""
    model = build_model(name).eval()
    lr, t, ev = good()
    out = model(lr.to(dtype), t, (10, 12), events=ev.to(dtype))
    rendered = model.render(lr.to(dtype), t, (10, 12), events=ev.to(dtype))
    if name != "bicubic":  # no weights: bicubic keeps the input's dtype
        assert out.dtype == rendered.dtype == torch.float32
    # the same numbers as float32 inputs holding the values `dtype` rounded them to (bicubic's output is
    # rounded to a half dtype in turn: within two of its steps at 1.0)
    ref = model(lr.to(dtype).float(), t, (10, 12), events=ev.to(dtype).float())
    tol = max(1e-5, 2 * torch.finfo(out.dtype).eps)
    torch.testing.assert_close(out.float(), ref, rtol=0, atol=tol)
    torch.testing.assert_close(rendered.float(), ref, rtol=0, atol=tol)


def test_input_beyond_the_model_dtype_is_refused(egvsr):
    lr, t, ev = good()
    lr = lr.double()
    lr[0, 0, 0, 0, 0] = 1e300
    # the value as given, not the inf the cast made of it, and why it is refused
    with pytest.raises(EventValidationError, match=r"lr: value 1e\+300 at index \(0, 0, 0, 0, 0\) is beyond the "
                                                   r"range of float32, the dtype of the model's weights"):
        egvsr(lr, t, (10, 12), events=ev)


@pytest.mark.parametrize("times, got", [
    (None, "NoneType"), (["0"], "list"), ("0", "str"), (torch.zeros(1, 1, dtype=torch.complex64), "complex64"),
    ([True], "torch.bool"),
])
def test_times_that_are_not_real_numbers(egvsr, times, got):
    lr, _, ev = good()
    with pytest.raises(ConfigError, match=rf"^times: expected real numbers in \[-1, 1\] .*got .*{got}"):
        egvsr(lr, times, (10, 12), events=ev)


def test_numpy_integer_chunk_size(egvsr):
    import numpy as np

    lr, t, ev = good()
    out = egvsr.render(lr, t, (10, 12), events=ev, chunk_size=np.int64(7))
    assert torch.allclose(out, egvsr.render(lr, t, (10, 12), events=ev, chunk_size=7))
    for bad in (np.bool_(True), 7.0, "7"):
        with pytest.raises(ConfigError, match=r"chunk_size: expected a positive integer"):
            egvsr.render(lr, t, (10, 12), events=ev, chunk_size=bad)


def test_register_refuses_an_existing_name_unless_replace():
    from egvsr.models.registry import PRESETS, register

    before = PRESETS["egvsr"]
    with pytest.raises(ConfigError, match=r"register 'egvsr': a model of that name is already registered "
                                          r"\(pass replace=True"):
        register("egvsr", "egvsr", "d")
    assert PRESETS["egvsr"] is before
    with pytest.raises(ConfigError, match=r"`replace` 'yes': expected True or False"):
        register("egvsr", "egvsr", "d", replace="yes")
    try:
        register("egvsr", "egvsr", "replaced", replace=True)
        assert PRESETS["egvsr"].description == "replaced"
    finally:
        PRESETS["egvsr"] = before


@pytest.mark.parametrize("name", ["egvsr-tiny", "egvsr-official"])
def test_mlp_activation_reaches_the_tf_and_stir_mlps_of_every_egvsr_family(name):
    """The official mode built the TF MLP with ReLU whatever `mlp_activation` said."""
    model = build_model(name, mlp_activation="leaky_relu", n_feats=8, inr_channels=8, heads=2)
    for mlp in (model.tf.mlp, model.stir.decoder):
        kinds = {type(m).__name__ for m in mlp.modules()}
        assert "LeakyReLU" in kinds and "ReLU" not in kinds, (mlp, kinds)


@pytest.mark.parametrize("option, value", [("window_tokens", 5), ("window_size", 8)])
def test_official_mode_refuses_attention_window_options_it_would_ignore(option, value):
    with pytest.raises(ConfigError, match=rf"model 'egvsr-official': option '{option}' does not exist in the "
                                          r"official model \(its attention runs in 4 row-major stripes\)"):
        build_model("egvsr-official", **{option: value})
    assert build_model("egvsr-official", n_feats=8, heads=2, window_tokens=1400).config["window_tokens"] == 1400


@pytest.mark.parametrize("call", ["build_model", "estimate_size", "count_parameters"])
def test_an_option_named_like_the_first_parameter_is_an_unknown_option(call):
    from egvsr.models import registry

    with pytest.raises(ConfigError, match=r"model 'egvsr-tiny': unknown option\(s\) \['name_or_config'\]"):
        getattr(registry, call)("egvsr-tiny", name_or_config=1)


def test_egvsr_needs_two_input_frames():
    """No data path gives fewer than 2 frames: a 1-frame model was refused only at render time, unnamed."""
    with pytest.raises(ConfigError, match=r"option 'num_frames': expected a value >= 2, got 1"):
        build_model("egvsr-tiny", num_frames=1)


def test_register_model_checks_everything_before_registering_anything():
    from dataclasses import dataclass

    from egvsr.models.base import SRModel
    from egvsr.models.options import opt
    from egvsr.models.registry import FAMILIES, PRESETS, register_model

    class Toy(SRModel):
        """A toy family."""

    @dataclass(frozen=True)
    class NoCheck:
        width: int = opt(1, min=1)

    @dataclass(frozen=True)
    class Checked(NoCheck):
        def check(self, name: str) -> None:
            pass

    before = (dict(FAMILIES), dict(PRESETS))
    with pytest.raises(ConfigError, match=r"register_model 'toy-fam': `options` .*NoCheck.*: expected an options "
                                          r"dataclass with a check\(name\) method"):
        register_model("toy-fam", options=NoCheck)(Toy)
    with pytest.raises(ConfigError, match=r"option 'width': expected a value >= 1"):
        register_model("toy-fam", options=Checked, presets={"toy-a": ("a", {}), "toy-b": ("b", {"width": 0})})(Toy)
    with pytest.raises(ConfigError, match=r"register 'egvsr': a model of that name is already registered"):
        register_model("toy-fam", options=Checked, presets={"toy-a": ("a", {}), "egvsr": ("b", {})})(Toy)
    assert (dict(FAMILIES), dict(PRESETS)) == before


@pytest.mark.parametrize("h, w", [(1, 1), (1, 6), (6, 1)])
def test_official_egvsr_refuses_an_lr_side_of_one_naming_lr(h, w):
    """The released HPB pools with floor: a 1-pixel side pooled to nothing and crashed in torch's pooling
    ("Output size is too small"); our EGVSR (ceil pooling) still renders it."""
    official = build_model("egvsr-official", n_feats=8, inr_channels=8, moments=8, lcb_depth=1, heads=2,
                           tf_samples=2, tf_hidden=16).eval()
    lr, t, ev = good(h, w)
    for call in (official, official.render):
        with pytest.raises(EventValidationError, match=rf"^lr: frames of {h}x{w} \(h x w\) pixels; "
                                                       r"EGVSROfficial needs at least 2x2$"):
            call(lr, t, (2 * h, 2 * w), events=ev)
    assert official.render(*good(2, 2)[:2], (4, 4), events=good(2, 2)[2]).shape == (1, 1, 3, 4, 4)
    assert build_model("egvsr-tiny").render(lr, t, (2 * h, 2 * w), events=ev).shape == (1, 1, 3, 2 * h, 2 * w)


@pytest.mark.parametrize("name", ["egvsr-tiny", "videoinr-tiny"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_half_precision_model_runs_forward_and_render_in_its_dtype(name, dtype):
    """`model.half()`: inputs are cast to the weights' dtype (docs/models.md), but half-precision maps were
    sampled in float32 and fed to half layers: a raw torch "expected m1 and m2 to have the same dtype"
    (EGVSR's forward, VideoINR's forward and render). Both now run, give the model's dtype, agree with each
    other and stay within the dtype's rounding of the float32 model."""
    torch.manual_seed(0)
    ref = build_model(name).eval()
    model = build_model(name).eval()
    model.load_state_dict(ref.state_dict())
    model = model.to(dtype)
    lr, _, ev = good()
    lr = torch.cat([lr, lr[:, :1]], 1)[:, : model.num_frames or 3]
    t = torch.tensor([-0.4, 0.7])
    out, rendered = model(lr, t, (9, 13), events=ev), model.render(lr, t, (9, 13), events=ev, chunk_size=7)
    assert out.dtype == rendered.dtype == dtype
    torch.testing.assert_close(out, rendered, rtol=0, atol=0)
    tol = 0.01 if dtype == torch.float16 else 0.05
    torch.testing.assert_close(rendered.float(), ref.render(lr, t, (9, 13), events=ev), rtol=0, atol=tol)


@pytest.mark.parametrize("name", ["egvsr-tiny", "videoinr-tiny"])
@pytest.mark.parametrize("method", ["forward", "render"])
def test_a_model_moved_to_a_complex_dtype_is_refused_naming_it(name, method):
    """`model.to(torch.complex64)` is allowed by torch; the call used to fail deep inside with 'Input type
    (float) and bias type (c10::complex<float>) should be the same'."""
    model = build_model(name).to(torch.complex64).eval()
    lr, t, ev = good()
    with pytest.raises(ConfigError, match=r"^model: weights of dtype complex64; expected a real floating dtype"):
        getattr(model, method)(lr, t, (10, 12), events=ev)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_a_whole_model_moved_to_another_float_dtype_computes_the_float32_numbers(dtype):
    """A `.double()` / `.half()` / bfloat16 model on the CPU: output of its dtype, render equal to forward,
    both near the float32 model's (a half model's rounding, ~1e-3; bfloat16 ~1e-2)."""
    torch.manual_seed(0)
    ref = build_model("egvsr-tiny").eval()
    with torch.no_grad():
        for p in ref.parameters():  # the zero-initialised residual head would hide the network
            p.add_(0.03 * torch.randn_like(p))
    model = build_model("egvsr-tiny").to(dtype).eval()
    model.load_state_dict(ref.state_dict())
    lr, t, ev = good()
    with torch.no_grad():
        want = ref(lr, t, (10, 12), events=ev)
        out, rendered = model(lr, t, (10, 12), events=ev), model.render(lr, t, (10, 12), events=ev, chunk_size=7)
    assert out.dtype == rendered.dtype == dtype
    tol = {torch.float64: 1e-5, torch.float16: 5e-3, torch.bfloat16: 3e-2}[dtype]
    torch.testing.assert_close(rendered.float(), out.float(), atol=tol, rtol=0)
    torch.testing.assert_close(out.float(), want, atol=tol, rtol=0)


@pytest.mark.parametrize("name", ["egvsr-tiny", "videoinr-tiny", "bicubic"])
def test_a_region_of_a_render_above_the_cap_is_refused_as_the_whole_render_is(name):
    """A region's scale is that of the larger render (out_len / lr_len), not out_size over the crop: a 5x6
    crop's 5x6 pixels of a x40 render were rendered although the whole render is refused."""
    from egvsr.models.sampling import AxisGrid, Region

    lr, t, ev = good()
    model = build_model(name)
    over = Region(AxisGrid(0, 0, 1, 40, 5), AxisGrid(0, 0, 6, 12, 6))
    with pytest.raises(ConfigError, match=r"^region\.y .*scale 40 \(out_len / lr_len\) exceeds max_scale=16"):
        model.render(lr, t, (5, 6), events=ev, region=over)
    at_cap = Region(AxisGrid(3, 0, 5, 80, 5), AxisGrid(0, 0, 6, 12, 6))
    assert model.render(lr, t, (5, 6), events=ev, region=at_cap).shape[-2:] == (5, 6)


@pytest.mark.parametrize("bad", [2.5, True, "0", None, 1e300])
def test_a_region_of_non_integer_pixels_is_one_config_error(egvsr, bad):
    """Pixel positions and counts are integers: a float (which would render at fractional positions) or a
    string (a bare TypeError from a comparison) is one ConfigError naming the region's axis."""
    from egvsr.models.sampling import AxisGrid, Region

    lr, t, ev = good()
    region = Region(AxisGrid(0, 0, 5, 10, 5), AxisGrid(bad, 0, 6, 12, 6))
    with pytest.raises(ConfigError, match=r"^region\.x .*expected integer pixel counts and positions"):
        egvsr.render(lr, t, (5, 6), events=ev, region=region)
    with pytest.raises(ConfigError, match=r"^region\.y: expected an egvsr.models.sampling.AxisGrid"):
        egvsr.render(lr, t, (5, 6), events=ev, region=Region((0, 0, 5, 10, 5), region.x))


@pytest.mark.parametrize("overrides, tail", [
    ({"n_feats": np.bool_(True)}, "expected an integer, got True"),
    ({"fold": np.str_("max")}, "expected one of ['mean', 'sum'], got 'max'"),
    ({"max_scale": np.float32(-0.5)}, "expected a value >= 1e-06, got -0.5"),
])
def test_option_messages_show_numpy_values_as_plain_values(overrides, tail):
    """repr() of a NumPy scalar is `np.True_` / `np.str_('max')` under NumPy 2: the message quotes the value."""
    with pytest.raises(ConfigError) as err:
        build_model("egvsr-tiny", **overrides)
    assert str(err.value).endswith(tail), str(err.value)


def test_shown_value_is_repr_with_numpy_scalars_as_python_values():
    from egvsr.errors import shown_value

    assert shown_value(np.float64(0.5)) == "0.5" and shown_value(np.float32(0.1)) == "0.1"
    assert shown_value(np.False_) == "False" and shown_value(np.int64(-3)) == "-3"
    assert shown_value(np.str_("a")) == "'a'" and shown_value("a") == "'a'" and shown_value(None) == "None"
    assert shown_value((np.float64(1.0),)) == "(1.0,)" and shown_value([np.uint8(2), "x"]) == "[2, 'x']"
    assert shown_value(np.array([1.0])) == repr(np.array([1.0]))  # arrays keep their own repr
