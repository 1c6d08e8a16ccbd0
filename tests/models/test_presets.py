"""Registry and presets: parameter counts, a forward of every preset, configs that rebuild, the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from egvsr.cli import main
from egvsr.models import PRESETS, build_model, count_parameters, list_models
from tests._model_helpers import give_residual_head_weights

MODELS_DIR = Path(__file__).resolve().parents[2] / "egvsr" / "models"

TARGETS = {"egvsr": 2.6e6, "egvsr-large": 10.2e6, "videoinr": 11.31e6}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_preset_parameter_counts_within_5_percent(name):
    n = count_parameters(name)
    assert abs(n - TARGETS[name]) / TARGETS[name] < 0.05, f"{name}: {n / 1e6:.3f}M"


def test_official_switches_do_not_change_the_parameter_count():
    base = count_parameters("egvsr")
    assert count_parameters("egvsr", fold="sum", output_activation="relu", residual_bicubic=False) == base
    assert count_parameters("egvsr", local_ensemble=True) == base + 4 * 32  # rel (2) + cell (2) inputs


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_renders_each_sample_of_a_batch_on_its_own(name):
    """A small forward of every preset: a batch of two gives what each sample gives alone (nothing mixes
    across the batch), and an untrained EGVSR with residual_bicubic (zero residual head) is exactly bicubic."""
    torch.manual_seed(0)
    model = build_model(name)
    m, p = model.event_shape if model.uses_events else (1, 1)
    k = model.num_frames or 2
    lr, events, times = torch.rand(2, k, 3, 5, 7), torch.rand(2, m, p, 5, 7), torch.tensor([[0.0], [0.4]])
    with torch.no_grad():
        if getattr(model.options, "residual_bicubic", False):
            assert torch.equal(model(lr, times, (10, 14), events=events), build_model("bicubic")(lr, times, (10, 14)))
        give_residual_head_weights(model)
        both = model(lr, times, (10, 14), events=events)
        alone = torch.cat([model(lr[i:i + 1], times[i:i + 1], (10, 14), events=events[i:i + 1]) for i in (0, 1)])
    assert both.shape == (2, 1, 3, 10, 14)
    torch.testing.assert_close(both, alone, rtol=1e-5, atol=1e-5)


def test_config_rebuilds_the_same_model():
    torch.manual_seed(0)
    model = give_residual_head_weights(build_model({"name": "egvsr-tiny", "local_ensemble": True}, fold="sum"))
    assert model.config["local_ensemble"] is True and model.config["fold"] == "sum"
    clone = build_model(model.config)
    assert clone.config == model.config
    clone.load_state_dict(model.state_dict())  # same architecture, key for key
    lr, ev = torch.rand(1, 3, 3, 4, 5), torch.rand(1, 8, 2, 4, 5)
    assert torch.equal(model.render(lr, [0.2], (8, 10), events=ev), clone.render(lr, [0.2], (8, 10), events=ev))


def test_list_models_and_cli(capsys):
    rows = {name: (n, text) for name, n, text in list_models()}
    assert set(rows) == set(PRESETS) and rows["bicubic"][0] == 0
    assert rows["egvsr"][0] == count_parameters("egvsr")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "egvsr-large" in out and "videoinr" in out and f"{rows['egvsr'][0] / 1e6:.3f}M" in out


def test_models_package_rules():
    """No .cuda() calls, no file I/O, no imports of datasets/engine, inside egvsr/models."""
    for path in MODELS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                assert node.attr != "cuda", f"{path.name}: .cuda call"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "open", f"{path.name}: file I/O"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for name in names:
                    assert not name.startswith(("egvsr.datasets", "egvsr.engine")), f"{path.name}: {name}"


@pytest.mark.parametrize("name", ["egvsr", "videoinr"])
def test_preset_backward_reaches_every_parameter(name):
    torch.manual_seed(0)
    model = give_residual_head_weights(build_model(name))
    m, p = model.event_shape if model.uses_events else (1, 1)
    k = model.num_frames or 2
    out = model(torch.rand(1, k, 3, 5, 7), torch.tensor([[0.3]]), (9, 13), events=torch.rand(1, m, p, 5, 7))
    out.square().mean().backward()
    missing = [n for n, q in model.named_parameters() if q.grad is None or not q.grad.abs().sum() > 0]
    assert not missing, f"no gradient reached: {missing}"
