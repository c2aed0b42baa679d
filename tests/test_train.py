import pytest
import torch

from irn_core.checkpoints import Checkpointer
from irn_core.device import autocast_dtype, resolve_device
from irn_core.optim import lr_schedule
from irn_core.train import fit


def _lrs(settings: dict, total: int, lr: float = 0.1) -> list[float]:
    """The lr of each of ``total`` steps under the schedule of ``settings`` (stepped as fit does)."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    schedule = lr_schedule(opt, total, settings)
    lrs = []
    for _ in range(total + 1):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        schedule.step()
    return lrs


def test_poly_lr():
    """lr x (1 - step / total) ^ 0.9 at every step, bit for bit the values of the former
    hand-written schedule (base_lr * (1 - step / max_step) ** 0.9)."""
    lrs = _lrs({"lr_schedule": "poly"}, 100)
    assert lrs[0] == 0.1 and lrs[50] == pytest.approx(0.1 * 0.5**0.9) and lrs[100] == 0.0
    assert lrs == [0.1 * (1 - step / 100) ** 0.9 for step in range(101)]


def test_poly_lr_after_a_linear_warm_up():
    """warmup_iters with poly: lr / 3 at step 0, rising linearly to the poly value at warmup_iters."""
    lrs = _lrs({"lr_schedule": "poly", "warmup_iters": 10}, 100)
    assert lrs[0] == pytest.approx(0.1 / 3) and lrs[5] == pytest.approx(0.1 * (1 / 3 + 2 / 3 * 0.5) * 0.95**0.9)
    assert lrs[10:] == [pytest.approx(0.1 * (1 - step / 100) ** 0.9) for step in range(10, 101)]


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            resolve_device("cuda")


def _problem():
    torch.manual_seed(0)
    x = torch.randn(32, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    return x, y


def _run(tmp_path, epochs, tag="a"):
    x, y = _problem()
    torch.manual_seed(1)
    model = torch.nn.Linear(3, 1)
    c = {"optimizer": "sgd", "weight_decay": 0.0, "momentum": 0.9, "epochs": epochs}
    batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]
    step = lambda m, b: {"total": ((m(b[0])[:, 0] - b[1]) ** 2).mean()}
    hist = fit(
        model,
        [{"params": model.parameters(), "lr": 0.05}],
        lambda e: batches,
        step,
        c,
        Checkpointer(tmp_path, tag=tag),
        "t",
    )
    return model, hist


def test_fit_learns_and_checkpoints(tmp_path):
    model, hist = _run(tmp_path, 4)
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4]
    assert hist[-1]["total"] < 0.2 * hist[0]["total"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch0003.pt", "epoch0004.pt"]


def test_interrupted_training_resumes(tmp_path):
    full, _ = _run(tmp_path / "full", 4)
    # first two epochs of a 4-epoch run, then "crash": the checkpoint has the poly schedule state
    x, y = _problem()
    torch.manual_seed(1)
    model = torch.nn.Linear(3, 1)
    c = {"optimizer": "sgd", "weight_decay": 0.0, "momentum": 0.9, "epochs": 4}
    batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]
    calls = {"n": 0}

    def step(m, b):
        calls["n"] += 1
        if calls["n"] > 8:
            raise KeyboardInterrupt
        return {"total": ((model(b[0])[:, 0] - b[1]) ** 2).mean()}

    with pytest.raises(KeyboardInterrupt):
        fit(
            model,
            [{"params": model.parameters(), "lr": 0.05}],
            lambda e: batches,
            step,
            c,
            Checkpointer(tmp_path / "part", tag="a"),
            "t",
        )
    resumed, hist = _run(tmp_path / "part", 4)
    assert [h["epoch"] for h in hist] == [3, 4]
    assert torch.allclose(resumed.weight, full.weight) and torch.allclose(resumed.bias, full.bias)


def test_checkpoint_from_other_settings_is_not_resumed(tmp_path):
    _run(tmp_path, 2, tag="a")
    _, hist = _run(tmp_path, 2, tag="b")
    assert [h["epoch"] for h in hist] == [1, 2]


def test_autocast_dtype():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert autocast_dtype({"mixed_precision": "auto"}, cpu) is None
    assert autocast_dtype({"mixed_precision": "auto"}, cuda) is torch.bfloat16
    assert autocast_dtype({"mixed_precision": "bf16"}, cpu) is torch.bfloat16
    assert autocast_dtype({"mixed_precision": "off"}, cuda) is None
    assert autocast_dtype({"mixed_precision": False}, cuda) is None


def test_fit_in_bfloat16_autocast_learns_like_float32(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(64, 3, 8, 8)
    y = x.mean((1, 2, 3)) * 3
    batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, 64, 16)]
    c = {"optimizer": "sgd", "weight_decay": 0.0, "momentum": 0.9, "epochs": 6}
    finals = {}
    for amp in (None, torch.bfloat16):
        torch.manual_seed(1)
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Flatten(), torch.nn.Linear(256, 1))
        seen = []

        def step(m, b, seen=seen):
            out = m(b[0])
            seen.append(out.dtype)
            return {"total": ((out.float()[:, 0] - b[1]) ** 2).mean()}

        hist = fit(
            model,
            [{"params": model.parameters(), "lr": 0.02}],
            lambda e: batches,
            step,
            c,
            Checkpointer(tmp_path / str(amp)),
            "t",
            amp,
            "cpu",
        )
        assert set(seen) == {amp or torch.float32}
        assert hist[-1]["total"] < 0.5 * hist[0]["total"]
        finals[amp] = hist[-1]["total"]
    assert finals[torch.bfloat16] == pytest.approx(finals[None], rel=0.2)


def test_fit_stops_on_a_non_finite_loss(tmp_path):
    model = torch.nn.Linear(1, 1)
    c = {"optimizer": "sgd", "weight_decay": 0.0, "momentum": 0.9, "epochs": 1}
    step = lambda m, b: {"total": m(b)[0, 0] * float("nan")}
    with pytest.raises(FloatingPointError, match="loss nan at epoch 1, step 1"):
        fit(
            model,
            [{"params": model.parameters(), "lr": 0.1}],
            lambda e: [torch.ones(1, 1)],
            step,
            c,
            Checkpointer(tmp_path),
            "t",
        )


def test_finished_model_leaves_no_checkpoint(tmp_path):
    model, hist = _run(tmp_path / "ck", 2)
    Checkpointer(tmp_path / "ck", tag="a").finish({"model": model.state_dict(), "history": hist}, tmp_path / "model.pt")
    assert not (tmp_path / "ck").exists()
    saved = torch.load(tmp_path / "model.pt", weights_only=False)
    assert torch.equal(saved["model"]["weight"], model.weight) and len(saved["content_digest"]) == 16
    # a second (forced) run of the same settings trains from epoch 1 again
    _, hist = _run(tmp_path / "ck", 2)
    assert [h["epoch"] for h in hist] == [1, 2]


def test_checkpoint_tag_follows_input_contents(tmp_path):
    from irn_core.checkpoints import checkpoint_tag

    (tmp_path / "a.json").write_text('{"x": 1}')
    (tmp_path / "b.json").write_text('{"x": 1}')
    (tmp_path / "c.json").write_text('{"x": 2}')
    s = {"irn": {"lr": 0.1}}
    assert checkpoint_tag(s, [tmp_path / "a.json"]) == checkpoint_tag(s, [tmp_path / "b.json"])
    assert checkpoint_tag(s, [tmp_path / "a.json"]) != checkpoint_tag(s, [tmp_path / "c.json"])
    assert checkpoint_tag(s, [tmp_path / "a.json"]) != checkpoint_tag({"irn": {"lr": 0.2}}, [tmp_path / "a.json"])


def test_killed_checkpoint_save_leaves_no_temporary(tmp_path):
    _run(tmp_path, 1)
    stale = tmp_path / ".epoch0002.pt.tmp999999999"  # a save killed by SIGKILL (no such process)
    stale.write_bytes(b"partial")
    _, hist = _run(tmp_path, 2)  # resumes from epoch 1, cleans the temporary
    assert [h["epoch"] for h in hist] == [2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch0001.pt", "epoch0002.pt"]
