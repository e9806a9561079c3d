"""`catsnn train` end to end on a few steps: both architectures, both modes, resume, export."""
import json

import pytest
import torch

from catsnn.artifact import load_artifact
from catsnn.cli import main as cli_main
from catsnn.host.backends import AnnBackend, ReferenceBackend
from catsnn.host.evaluate import compare
from catsnn.training.cat_layers import log5_quantize
from catsnn.training.net import CatNet
from catsnn.training.train import augment



def test_augment_is_a_crop_or_its_mirror():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (8, 3, 32, 32), generator=g).to(torch.uint8)
    out = augment(x, g)
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(8):
        crops = [padded[i, :, dy:dy + 32, dx:dx + 32] for dy in range(9) for dx in range(9)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(2)) for c in crops)


def assert_export_is_exact(run, images: int = 6):
    """The exported network's exact ANN equals the reference SNN on random images."""
    art = load_artifact(run / "model.catsnn")
    x = torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8)
    bad, first = compare(ReferenceBackend(art).run(x), AnnBackend(art).run(x), art, 0)
    assert not bad.any(), first
    return art


@pytest.fixture
def train(data):
    """`catsnn train` on a small subset for a few steps, into a folder."""
    def run(out, *extra):
        args = ["train", "--data", data, "--out", str(out), "--subset", "128", "--batch", "32",
                "--epochs", "1", "--quant-epochs", "1", "--max-steps", "2", "--threads", "2",
                *extra]
        assert cli_main(args) == 0
    return run


def test_cat_compact_trains_exports_and_resumes(tmp_path, train):
    train(tmp_path)
    art = assert_export_is_exact(tmp_path, images=10)
    assert len(art.layers) == 7 and art.T == 8 and art.num_weights == 307040
    hist = [json.loads(l) for l in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [h["phase"] for h in hist] == ["cat_bn", "folded"]
    assert (tmp_path / "train.log").read_text().count("epoch") >= 2
    # resume: one more quantised epoch continues from the checkpoint
    train(tmp_path, "--quant-epochs", "2", "--resume")
    hist = [json.loads(l) for l in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [(h["phase"], h["epoch"]) for h in hist] == [("cat_bn", 1), ("folded", 1), ("folded", 2)]


def test_weight_average_is_the_mean_over_the_steps():
    from catsnn.training.net import CatNet
    from catsnn.training.train import WeightAverage
    torch.manual_seed(0)
    net = CatNet([4, "P"], "folded", T=8, num_classes=3, input_size=8)
    avg = WeightAverage(net)
    seen = []
    for step in range(4):
        with torch.no_grad():
            net.convs[0].weight.add_(step + 1.0)
        seen.append(net.convs[0].weight.detach().clone())
        avg.update(net)
    assert avg.updates == 4
    assert torch.allclose(avg.model.convs[0].weight, torch.stack(seen).mean(0), atol=1e-6)
    restored = WeightAverage(net, avg.state())
    assert restored.updates == 4 and torch.equal(restored.model.convs[0].weight,
                                                 avg.model.convs[0].weight)
    assert not any(p.requires_grad for p in avg.model.parameters())


def test_weight_average_is_what_phase_two_exports_and_resumes(tmp_path, train):
    train(tmp_path, "--average-from", "1", "--max-steps", "3")
    last = torch.load(tmp_path / "last.pt", weights_only=False)
    final = torch.load(tmp_path / "final.pt", weights_only=False)
    assert last["average"]["updates"] == 3
    # the exported network is the average, not the last step's weights
    for k, v in final["model"].items():
        assert torch.equal(v, last["average"]["model"][k]), k
    assert not torch.equal(final["model"]["convs.0.weight"], last["model"]["convs.0.weight"])
    # the average is evaluated in phase 2, the last step's network logged beside it
    hist = [json.loads(l) for l in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert "test_acc_last_step" in hist[-1] and "test_acc_last_step" not in hist[0]
    assert_export_is_exact(tmp_path)
    # resumed: the average goes on over the new epoch's steps
    train(tmp_path, "--average-from", "1", "--max-steps", "3", "--quant-epochs", "2", "--resume")
    assert torch.load(tmp_path / "last.pt", weights_only=False)["average"]["updates"] == 6


def test_first_layer_quantized_from_the_start_folds_unchanged(tmp_path):
    from catsnn.training.cat_layers import log5_quantize
    from catsnn.training.net import CatNet
    from catsnn.training.train import load_init
    torch.manual_seed(0)
    relu = CatNet([4, "P", 8], "relu", T=8, num_classes=3, input_size=8)
    with torch.no_grad():
        for bn in relu.bns:
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 2)
    net = CatNet([4, "P", 8], "cat_bn", T=8, num_classes=3, input_size=8, quantized_first=True)
    assert len(net.batchnorms) == 1 and net.convs[0].bias is not None
    x = torch.randint(0, 256, (5, 3, 8, 8)).float() / 256
    with torch.no_grad():
        # --init folds the float network's first BN into the first conv
        torch.save({"form": "relu", "model": relu.state_dict()}, tmp_path / "float.pt")
        load_init(net, str(tmp_path / "float.pt"))
        relu.eval()
        z_relu = relu.bns[0](torch.nn.functional.conv2d(x, relu.convs[0].weight, padding=1))
        z = torch.nn.functional.conv2d(x, net.convs[0].weight, net.convs[0].bias, padding=1)
        assert torch.allclose(z, z_relu, atol=1e-5)
        # the first layer computes with quantised weights, and folding the rest leaves it as is
        assert torch.equal(net.weight(net.convs[0]), log5_quantize(net.convs[0].weight)[0])
        net.eval()
        a0 = net(x, return_potentials_per_layer=True)[1][0]
        b0 = net.folded()(x, return_potentials_per_layer=True)[1][0]
        assert torch.equal(a0, b0)


def test_first_layer_option_trains_exports_and_guards_resume(tmp_path, train, capsys, data):
    train(tmp_path / "float", "--mode", "float")
    run = tmp_path / "q"
    train(run, "--quantize-first-layer", "--init", str(tmp_path / "float" / "final.pt"))
    end = torch.load(run / "cat_bn-end.pt", weights_only=False)["model"]
    assert "convs.0.bias" in end and "bns.0.weight" not in end and "bns.1.weight" in end
    assert_export_is_exact(run)
    assert cli_main(["train", "--data", data, "--out", str(run), "--resume"]) == 2
    assert "--resume with --quantize-first-layer False" in capsys.readouterr().err


def test_fold_aware_phase_one_is_the_folded_network():
    from catsnn.training.cat_layers import log5_quantize
    from catsnn.training.net import CatNet
    torch.manual_seed(0)
    for first in (False, True):
        net = CatNet([4, "P", 8], "cat_bn", T=8, num_classes=3, input_size=8, fold_aware=True,
                     quantized_first=first)
        with torch.no_grad():
            for bn in net.batchnorms:      # negative and zero gammas included
                bn.weight.uniform_(-1.5, 2)
                bn.weight[0] = 0.0
                bn.bias.normal_()
        net.train()
        for _ in range(3):                 # running statistics of the quantised convs
            net(torch.rand(16, 3, 8, 8))
        net = net.double().eval()
        folded = net.folded().double()
        # the FC layer already computes with quantised weights
        assert torch.equal(net.weight(net.fc), log5_quantize(net.fc.weight)[0])
        x = torch.randint(0, 256, (32, 3, 8, 8)).double() / 256
        logits, acts = net(x, return_potentials_per_layer=True)
        f_logits, f_acts = folded(x, return_potentials_per_layer=True)
        for i, (a, b) in enumerate(zip(acts, f_acts)):
            assert torch.equal(a, b), f"layer {i}: {(a != b).sum().item()} activations differ"
        assert torch.equal(logits, f_logits)


def test_fold_aware_option_trains_exports_and_guards_resume(tmp_path, train, capsys, data):
    run = tmp_path / "fa"
    train(run, "--fold-aware")
    log = (run / "train.log").read_text()
    assert '"fold_aware": true' in log and "right after folding" in log
    assert_export_is_exact(run)
    assert cli_main(["train", "--data", data, "--out", str(run), "--resume"]) == 2
    assert "--resume with --fold-aware False" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:        # argparse's own one-line usage error
        cli_main(["train", "--data", data, "--out", str(run), "--mode", "float", "--fold-aware"])
    assert e.value.code == 2
    assert "--fold-aware is a CAT phase-1 option" in capsys.readouterr().err


def test_phase_two_distils_from_phase_one_end(tmp_path, train, capsys, data):
    """--quant-teacher phase1: phase 2 matches phase 1's own end (OUT/cat_bn-end.pt)."""
    run, plain = tmp_path / "qt", tmp_path / "plain"
    train(run, "--quant-teacher", "phase1", "--distill", "1")
    assert "phase 2 distils from phase 1's end" in (run / "train.log").read_text()
    assert_export_is_exact(run)
    # --distill 1: phase 2's loss is the distillation alone, so without the teacher (and with
    # the same phase 1) phase 2 trains other weights
    train(plain, "--distill", "1")
    phase1 = [torch.load(r / "cat_bn-end.pt", weights_only=False)["model"] for r in (run, plain)]
    assert all(torch.equal(phase1[0][k], phase1[1][k]) for k in phase1[0])
    final = [torch.load(r / "final.pt", weights_only=False)["model"] for r in (run, plain)]
    assert not torch.equal(final[0]["fc.weight"], final[1]["fc.weight"])
    # a resumed phase 2 loads the teacher from the run folder: without it, one clear error
    (run / "cat_bn-end.pt").unlink()
    args = ["train", "--data", data, "--out", str(run), "--subset", "128", "--batch", "32",
            "--epochs", "1", "--quant-epochs", "2", "--max-steps", "2", "--resume",
            "--quant-teacher", "phase1"]
    assert cli_main(args) == 2
    assert "--quant-teacher phase1:" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        cli_main(["train", "--data", data, "--out", str(run), "--mode", "float",
                  "--quant-teacher", "phase1"])
    assert e.value.code == 2
    assert "--quant-teacher phase1 is a CAT phase-2 option" in capsys.readouterr().err


def test_vgg16_trains_a_few_steps(tmp_path, train):
    train(tmp_path, "--arch", "vgg16", "--max-steps", "1", "--T", "6")
    art = load_artifact(tmp_path / "model.catsnn")
    assert sum(l.kind == "conv3x3" for l in art.layers) == 13 and art.T == 6
    assert art.num_weights == 14_715_584  # 13 conv3x3 (14,710,464) + fc 512 -> 10 (5,120)


def test_float_baseline_trains(tmp_path, train):
    train(tmp_path, "--mode", "float")
    ck = torch.load(tmp_path / "final.pt", weights_only=False)
    assert ck["form"] == "relu"
    assert not (tmp_path / "model.catsnn").exists()


def test_bad_data_dir_is_one_error(tmp_path, capsys):
    assert cli_main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no cifar10 data found" in capsys.readouterr().err


def test_distillation_from_a_teacher(tmp_path, train):
    train(tmp_path / "float", "--mode", "float")
    train(tmp_path / "kd", "--teacher", str(tmp_path / "float" / "final.pt"), "--distill", "0.7")
    assert "final test top-1" in (tmp_path / "kd" / "train.log").read_text()
    assert json.loads((tmp_path / "kd" / "train.log").read_text().splitlines()[0]
                      .split(" ", 2)[2])["teacher"][0].endswith("final.pt")


def test_an_ensemble_of_teachers_gives_its_mean_probabilities(tmp_path, train):
    from catsnn.training.train import distillation_targets
    g = torch.Generator().manual_seed(0)
    nets = [torch.nn.Linear(4, 3) for _ in range(2)]
    x = torch.randn(5, 4, generator=g)
    mean = (torch.softmax(nets[0](x) / 4, 1) + torch.softmax(nets[1](x) / 4, 1)) / 2
    assert torch.allclose(distillation_targets(nets, x, 4.0), mean, atol=1e-7)
    assert torch.equal(distillation_targets(nets[:1], x, 2.0), torch.softmax(nets[0](x) / 2, 1))
    # wired into training: the same teacher twice is that teacher, bit for bit
    teacher = tmp_path / "float" / "final.pt"
    train(tmp_path / "float", "--mode", "float")
    train(tmp_path / "one", "--teacher", str(teacher))
    train(tmp_path / "two", "--teacher", str(teacher), str(teacher))
    one, two = (torch.load(tmp_path / r / "final.pt", weights_only=False)["model"]
                for r in ("one", "two"))
    assert all(torch.equal(one[k], two[k]) for k in one)


def test_bn_recalibration_estimates_the_statistics():
    from catsnn.training.net import CatNet
    from catsnn.training.train import augment, recalibrate_bn, to_input
    torch.manual_seed(0)
    net = CatNet([4, "P"], "cat_bn", T=8, num_classes=3, input_size=8).eval()
    images = torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8)
    net.bns[0].running_mean.fill_(5.0)
    net.bns[0].running_var.fill_(9.0)
    recalibrate_bn(net, images, "cpu", n=64, batch=64)
    # the statistics of the same augmented batch (same fixed seed) through the first conv
    x = to_input(augment(images, torch.Generator().manual_seed(1234)), "cpu")
    with torch.no_grad():
        z = torch.nn.functional.conv2d(x, net.convs[0].weight, padding=1)
    assert torch.allclose(net.bns[0].running_mean, z.mean((0, 2, 3)), atol=1e-5)
    assert torch.allclose(net.bns[0].running_var, z.var((0, 2, 3)), rtol=1e-4)
    assert not net.training and net.bns[0].momentum == 0.1


def test_bad_train_options_are_one_error(tmp_path, capsys, data):
    rc = cli_main(["train", "--data", data, "--out", str(tmp_path), "--subset", "16",
                   "--batch", "32"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "catsnn: error: 16 training images < batch 32"
    with pytest.raises(SystemExit) as e:        # argparse's own one-line usage error
        cli_main(["train", "--data", data, "--out", str(tmp_path), "--quant-epochs", "3",
                  "--average-from", "4"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(
        "--average-from takes a phase-2 epoch of a CAT run: 1..--quant-epochs")


def test_time_budget_fits_epochs_and_only_shrinks_past_the_first_fifth():
    import time
    from catsnn.training.train import TimeBudget
    b = TimeBudget(100.0, [30, 10], reserve=0.0)
    deadline = b.phase_deadline(0)                 # phase 1: 30/40 of 100 s
    assert 74 <= deadline - time.time() <= 75
    # after 1 epoch of 10 s: 7 more fit -> 8 (of the 30 asked)
    assert b.fit(deadline, 1, [10.0], planned=30, requested=30) == 8
    # early (1 of 8 done), faster epochs may grow it again, never past the request
    assert b.fit(deadline, 1, [10.0], planned=8, requested=30) == 8
    assert b.fit(time.time() + 1000, 1, [10.0], planned=8, requested=30) == 30
    # past the first fifth only shrinking: 4 of 8 done, plenty of time -> stays 8
    assert b.fit(time.time() + 1000, 4, [10.0] * 4, planned=8, requested=30) == 8
    assert b.fit(time.time() + 15, 4, [10.0] * 4, planned=8, requested=30) == 5
    # the first (warm-up) epoch is left out of the mean once there is another
    assert TimeBudget.seconds_per_epoch([50.0, 10.0, 20.0]) == 15.0
    assert b.fit(time.time(), 3, [1.0] * 3, planned=8, requested=30) == 3   # never below done


# ---------------------------------------------------------------- torchrun (DDP, gloo on CPU)

def torchrun(out, data, *extra, nproc=2):
    """`catsnn train` under torchrun with nproc CPU processes (gloo, on loopback)."""
    import os
    import subprocess
    import sys
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", "-m", "catsnn.cli", "train", "--data", data,
           "--out", str(out), "--subset", "256", "--batch", "32", "--threads", "1",
           "--eval-every", "1", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    # on failure the ranks' own last lines (a rank killed by a signal says little else)
    assert r.returncode == 0, "\n".join(r.stderr.splitlines()[-40:])
    return r


def weights(path):
    import torch
    return {k: v for k, v in torch.load(path, weights_only=False)["model"].items()
            if k.endswith("weight")}


def test_torchrun_two_processes_train_resume_and_match_one(tmp_path, data):
    """Two ranks train the compact net on a subset through both phases, rank 0 alone writes,
    a second command resumes; and phase 2 (no BatchNorm) from the same start gives the weights
    one process gives (the gradients are those of the whole batch), up to float rounding."""
    import shutil
    import torch
    two = tmp_path / "two"
    r = torchrun(two, data, "--epochs", "1", "--quant-epochs", "1", "--max-steps", "3")
    log = (two / "train.log").read_text()
    assert "2 ranks, 16 images each per step" in log and log.count("catsnn train {") == 1
    assert (two / "model.catsnn").exists() and (two / "final.pt").exists()
    assert r.stderr.count("final test top-1") == 1             # one rank reports
    torchrun(two, data, "--epochs", "1", "--quant-epochs", "2", "--max-steps", "3", "--resume")
    log = (two / "train.log").read_text()
    assert "resumed from" in log and "phase folded epoch 2" in log.replace("epoch 2 ", "epoch 2 ")
    # phase 2 from one phase-1 end: one process and two
    start = two / "cat_bn-end.pt"
    for name in ("one", "pair"):
        (tmp_path / name).mkdir()
        shutil.copy(start, tmp_path / name / "last.pt")
    common = ["--epochs", "1", "--quant-epochs", "1", "--max-steps", "4", "--resume"]
    torchrun(tmp_path / "one", data, *common, nproc=1)
    torchrun(tmp_path / "pair", data, *common, nproc=2)
    a, b = weights(tmp_path / "one" / "final.pt"), weights(tmp_path / "pair" / "final.pt")
    s0 = weights(start)
    for k in a:
        moved = (a[k] - s0[k]).abs().max().item()
        diff = (a[k] - b[k]).abs().max().item()
        assert moved > 0 and diff <= 1e-3 * moved + 1e-6, (k, moved, diff)


def test_incremental_quantisation_freezes_the_largest_weights_first():
    """INQ's unit: each layer's largest weights frozen at their 5-bit log values, the rest
    float; an optimiser step moves only the rest; at fraction 1 every weight is what the
    export's quantiser (log5_quantize with the same per-layer offset) makes of it."""
    from catsnn.training.train import IncrementalQuantization
    torch.manual_seed(0)
    net = CatNet("compact", "folded")
    net.quantize_weights = False
    inq = IncrementalQuantization(net)
    assert [inq.fraction(e, 6) for e in (0, 1, 2, 6)] == [0.5, 0.75, 0.875, 1.0]
    w0 = [l.weight.detach().clone() for l in inq.layers(net)]
    inq.freeze(net, 0.5)
    for i, layer in enumerate(inq.layers(net)):
        w, frozen = layer.weight.detach(), inq.frozen[i]
        assert int(frozen.sum()) == -(-w.numel() // 2), f"layer {i}: {int(frozen.sum())} frozen"
        assert w0[i].abs()[frozen].min() >= w0[i].abs()[~frozen].max(), f"layer {i}: not the largest"
        assert torch.equal(w[~frozen], w0[i][~frozen]), f"layer {i}: a float weight changed"
        q = log5_quantize(w0[i])[0]
        assert torch.equal(w[frozen], q[frozen]), f"layer {i}: frozen weights not quantised"
    before = [l.weight.detach().clone() for l in inq.layers(net)]
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    net(torch.rand(2, 3, 32, 32)).sum().backward()
    opt.step()
    inq.restore(net)
    for i, (layer, b) in enumerate(zip(inq.layers(net), before)):
        frozen = inq.frozen[i]
        assert torch.equal(layer.weight[frozen], b[frozen]), f"layer {i}: a frozen weight moved"
        assert not torch.equal(layer.weight[~frozen], b[~frozen]), f"layer {i}: nothing trained"
    inq.freeze(net, 1.0)
    for i, layer in enumerate(inq.layers(net)):
        assert inq.frozen[i].all()
        assert torch.equal(layer.weight, log5_quantize(layer.weight)[0]), f"layer {i}"


def test_incremental_phase_two_trains_exports_and_resumes(tmp_path, train, capsys, data):
    """--incremental: phase 2 logs the frozen fraction per epoch, ends with every weight 5-bit
    log (the export is exact), and a resumed run continues the same frozen sets."""
    train(tmp_path, "--incremental", "--quant-epochs", "2")
    assert "phase 2 quantises incrementally" in (tmp_path / "train.log").read_text()
    hist = [json.loads(l) for l in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert [h.get("frozen") for h in hist] == [None, 0.5, 0.75]
    assert_export_is_exact(tmp_path)
    ck = torch.load(tmp_path / "last.pt", weights_only=False)
    frozen_before = ck["incremental"]["frozen"]
    assert [round(float(f.float().mean()), 2) for f in frozen_before] == [0.75] * 7
    train(tmp_path, "--incremental", "--quant-epochs", "3", "--resume")
    ck = torch.load(tmp_path / "last.pt", weights_only=False)
    for before, after in zip(frozen_before, ck["incremental"]["frozen"]):
        assert after[before].all() and after.float().mean() >= 0.875    # frozen stay frozen
    net = CatNet("compact", "folded")
    net.load_state_dict(torch.load(tmp_path / "final.pt", weights_only=False)["model"])
    for layer in [*net.convs, net.fc]:
        assert torch.equal(layer.weight, log5_quantize(layer.weight)[0])
    with pytest.raises(SystemExit):
        cli_main(["train", "--data", data, "--out", str(tmp_path), "--incremental",
                  "--average-from", "1"])
    assert "--incremental is a CAT phase-2 option" in capsys.readouterr().err


def test_phase_two_from_the_average_of_phase_one_ends(tmp_path, train, capsys, data):
    """--phase1-from A B: no phase-1 step; phase 2 starts from the mean of the two phase-1
    ends (weights exactly; BatchNorm statistics are re-estimated), exports exactly, resumes."""
    a, b, soup = tmp_path / "a", tmp_path / "b", tmp_path / "soup"
    train(a, "--quantize-first-layer")
    train(b, "--quantize-first-layer", "--seed", "1")
    ends = [a / "cat_bn-end.pt", b / "cat_bn-end.pt"]
    train(soup, "--quantize-first-layer", "--phase1-from", *map(str, ends))
    hist = [json.loads(l) for l in (soup / "history.jsonl").read_text().splitlines()]
    assert [h["phase"] for h in hist] == ["folded"]                 # phase 1 ran no step
    assert "the average of 2 phase-1 end(s)" in (soup / "train.log").read_text()
    states = [torch.load(p, weights_only=False)["model"] for p in ends]
    start = torch.load(soup / "cat_bn-end.pt", weights_only=False)["model"]
    assert not torch.equal(states[0]["convs.3.weight"], states[1]["convs.3.weight"])
    for k in start:
        if start[k].is_floating_point() and "running" not in k:    # not re-estimated ones
            assert torch.equal(start[k], (states[0][k] + states[1][k]) / 2), k
    assert_export_is_exact(soup)
    train(soup, "--quantize-first-layer", "--phase1-from", *map(str, ends),
          "--quant-epochs", "2", "--resume")                        # last.pt wins over the ends
    hist = [json.loads(l) for l in (soup / "history.jsonl").read_text().splitlines()]
    assert [(h["phase"], h["epoch"]) for h in hist] == [("folded", 1), ("folded", 2)]
    # a phase-1 end of another network, a folded network, a missing file: one error each
    for bad, says in ((a / "final.pt", "a 'folded' network, not a phase-1 end"),
                      (tmp_path / "none.pt", "no such file"),
                      (a / "train.log", "not a catsnn checkpoint")):
        assert cli_main(["train", "--data", data, "--out", str(tmp_path / "x"),
                         "--quantize-first-layer", "--phase1-from", str(ends[0]), str(bad)]) == 2
        assert f"--phase1-from {bad}: {says}" in capsys.readouterr().err
    assert cli_main(["train", "--data", data, "--out", str(tmp_path / "x"),
                     "--phase1-from", str(ends[0])]) == 2
    assert "trained with --quantize-first-layer True, this run has False" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["train", "--data", data, "--out", str(tmp_path / "x"), "--phase1-from",
                  str(ends[0]), "--init", str(ends[1])])
    assert "--phase1-from replaces phase 1" in capsys.readouterr().err


def test_grid_distance_pulls_each_weight_toward_its_power_of_two():
    """--grid-pull's term: (1/2) sum (w - q(w))^2 with q the export's quantiser and no gradient
    through q, so its gradient is w - q(w); it is zero on the grid, and a small step on it alone
    moves every weight toward the power of two it rounds to without changing any code."""
    from catsnn.training.train import grid_distance
    torch.manual_seed(0)
    net = CatNet("compact", "folded")
    layers = [*net.convs, net.fc]
    before = [l.weight.detach().clone() for l in layers]
    grid_distance(net).backward()
    for i, (layer, w) in enumerate(zip(layers, before)):
        q = log5_quantize(w)[0]
        assert torch.allclose(layer.weight.grad, w - q, rtol=0, atol=1e-7), f"layer {i}"
    with torch.no_grad():
        for layer in layers:
            layer.weight.sub_(0.5 * layer.weight.grad)
    for i, (layer, w) in enumerate(zip(layers, before)):
        q = log5_quantize(w)[0]
        assert torch.equal(log5_quantize(layer.weight.detach())[0], q), f"layer {i}: a code moved"
        moved = (layer.weight.detach() - q).abs() <= (w - q).abs()
        assert moved.all(), f"layer {i}: a weight moved away from its power of two"
        assert (layer.weight.detach() - q).abs().sum() < (w - q).abs().sum()
    with torch.no_grad():
        for layer in layers:
            layer.weight.copy_(log5_quantize(layer.weight)[0])
    assert float(grid_distance(net)) == 0.0


def test_grid_pull_trains_exports_and_is_checked(tmp_path, train, capsys, data):
    """--grid-pull C: phase 1 is unchanged, phase 2 trains other weights than without the pull
    and exports exactly; a negative C or one with --incremental is one error."""
    pulled, plain = tmp_path / "pulled", tmp_path / "plain"
    train(pulled, "--grid-pull", "100")
    train(plain)
    hists = [[json.loads(l) for l in (r / "history.jsonl").read_text().splitlines()]
             for r in (pulled, plain)]
    assert [h["phase"] for h in hists[0]] == ["cat_bn", "folded"]
    assert hists[0][0]["train_loss"] == hists[1][0]["train_loss"]      # phase 1: no pull
    ends = [torch.load(r / "final.pt", weights_only=False)["model"] for r in (pulled, plain)]
    assert not torch.equal(ends[0]["convs.3.weight"], ends[1]["convs.3.weight"])
    assert_export_is_exact(pulled)
    for bad in (["--grid-pull", "-1"], ["--grid-pull", "1", "--incremental"]):
        with pytest.raises(SystemExit):
            cli_main(["train", "--data", data, "--out", str(tmp_path), *bad])
        assert "--grid-pull takes C >= 0" in capsys.readouterr().err


def test_adam_phase_two_trains_exports_and_guards_resume(tmp_path, train, capsys, data):
    """--quant-optimizer adam: phase 1 is unchanged (SGD), phase 2 steps with AdamW (its state
    is in the checkpoint and a resume continues it), the export is exact; resuming phase 2 with
    the other optimiser is one error."""
    adam, sgd = tmp_path / "adam", tmp_path / "sgd"
    train(adam, "--quant-optimizer", "adam", "--quant-lr", "1e-4")
    train(sgd, "--quant-lr", "1e-4")
    hists = [[json.loads(l) for l in (r / "history.jsonl").read_text().splitlines()]
             for r in (adam, sgd)]
    assert hists[0][0]["train_loss"] == hists[1][0]["train_loss"]      # phase 1: SGD in both
    ends = [torch.load(r / "last.pt", weights_only=False) for r in (adam, sgd)]
    assert not torch.equal(ends[0]["model"]["convs.5.weight"], ends[1]["model"]["convs.5.weight"])
    assert "exp_avg_sq" in ends[0]["optimizer"]["state"][0]        # AdamW's state, saved
    assert_export_is_exact(adam)
    train(adam, "--quant-optimizer", "adam", "--quant-lr", "1e-4", "--quant-epochs", "2",
          "--resume")
    assert cli_main(["train", "--data", data, "--out", str(adam), "--subset", "128",
                     "--batch", "32", "--epochs", "1", "--quant-epochs", "3", "--max-steps", "2",
                     "--resume"]) == 2
    assert "--resume with --quant-optimizer sgd but phase 2" in capsys.readouterr().err
