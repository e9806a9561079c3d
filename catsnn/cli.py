"""catsnn: the command line. Each subcommand is one named step of the flow.

  train   conversion-aware training (or the float baseline); exports the model artifact
  export  a training checkpoint -> the model artifact
  info    describe a model artifact (and validate it)
  eval    run a model on CIFAR test images with a backend; --check compares with the reference
  energy  ASIC energy estimate per inference from real activity
  data    download CIFAR-10 / CIFAR-100 into a folder
  sim     build (cached) and start the simulated SoC; prints the URL for --backend soc --port
  build   a bitstream for a board with the open toolchain (YoWASP Yosys + nextpnr)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


from catsnn.errors import UserError


def _load_model(path):
    from catsnn.artifact import load_artifact
    return load_artifact(path)


def _data_args(p):
    p.add_argument("--data", default=None,
                   help="folder holding cifar-10-batches-py/ (default: $CATSNN_DATA)")
    p.add_argument("--download", action="store_true",
                   help="download the dataset into --data if it is not there")


def _resolve_data(a, dataset):
    from catsnn.data import download_cifar
    if a.download:
        if not a.data:
            raise UserError("--download needs --data DIR to download into")
        download_cifar(a.data, dataset)
    return a.data


def cmd_eval(a):
    from catsnn.host.evaluate import evaluate

    art = _load_model(a.model)
    dataset, images, labels = _test_images(a, art)
    r = evaluate(art, a.backend, images, labels, offset=a.offset, check=a.check, batch=a.batch,
                 progress=not a.quiet, pe=a.pe, port=a.port, timeout=a.timeout,
                 jobs=a.jobs)
    r = {"model": str(a.model), "dataset": dataset, **r}
    per_image = r.pop("per_image", [])
    if a.table:
        r["per_image"] = per_image
    if a.json:
        print(json.dumps(r))
    else:
        rows = [("model", f"{a.model} (T={art.T}, {len(art.layers)} layers)"),
                ("backend", a.backend), ("images", f"{r['images']} (test offset {a.offset})"),
                ("top-1", f"{100 * r['top1']:.2f} %"),
                ("speed", f"{r['images_per_s']:.3g} images/s")]
        if "sops_per_image" in r:
            rows.append(("SOPs/image", f"{r['sops_per_image']:,.0f}"))
        if "cycles_per_image" in r:
            rows.append(("cycles/image", f"{r['cycles_per_image']:,.0f} (P = {r['pe']}, "
                         f"{r['pe_efficiency']:.3f} SOPs per cycle per PE)"))
        if "link_bytes_per_s" in r:
            rows.append(("link", f"model load {r['model_load_s']:.1f} s, "
                         f"{r['link_bytes_per_s'] / 1024:.1f} KiB/s"))
        if a.check:
            rows.append(("check", f"{r['mismatches']} of {r['images']} images differ from the "
                                  f"reference" + (f"; first: {r['first_mismatch']}"
                                                  if r["mismatches"] else " (bit-exact)")))
        if "layer_differences" in r:     # a timed coding: the ANN twin is not exact
            rows.append(("agreement", f"{100 * r['class_agreement']:.2f} % of the images get "
                                      f"the reference's class"))
            rows.append(("per layer", "; ".join(
                f"{d['layer']}: {100 * d['neurons_differing']:.1f} % of totals differ, mean "
                f"|diff| {d['mean_abs_difference']:.3f}" for d in r["layer_differences"])))
        if a.table and per_image:
            names = art.classes
            print(f"{'image':>6} {'label':<11} {'predicted':<11} {'reference':<11} "
                  f"{'bit-exact':<9} {'cycles':>10}")
            for p in per_image:
                cyc = f"{p['cycles']:,}" if p["cycles"] is not None else "-"
                print(f"{p['image']:>6} {names[p['label']]:<11} {names[p['class']]:<11} "
                      f"{names[p['reference_class']]:<11} {'yes' if p['bit_exact'] else 'NO':<9} "
                      f"{cyc:>10}")
        for k, v in rows:
            print(f"{k:11s} {v}")
    # a timed coding's --check is a measurement (its ANN twin is not exact by construction)
    return 1 if a.check and r["mismatches"] and not art.coding.timed else 0


def cmd_info(a):
    art = _load_model(a.model)
    if a.json:
        print(json.dumps({"name": art.name, "T": art.T, "frac_bits": art.frac_bits,
                          "acc_bits": art.acc_bits, "firing": art.firing,
                          "coding": art.coding.to_json(),
                          "weights": art.num_weights, "weight_bits": 5 * art.num_weights,
                          "layers": [{"kind": l.kind, "in": l.in_channels, "out": l.out_channels,
                                      "k": l.k, "pool": l.pool, "fires": l.fires}
                                     for l in art.layers], "meta": art.meta}))
    else:
        print(art.describe())
    return 0


def cmd_export(a):
    import torch
    from catsnn.training.export import export_model
    from catsnn.training.net import CatNet
    try:
        ck = torch.load(a.checkpoint, map_location="cpu", weights_only=False)
        form, state, args = ck["form"], ck["model"], ck["args"]
    except FileNotFoundError:
        raise UserError(f"{a.checkpoint}: no such checkpoint") from None
    except Exception as e:
        raise UserError(f"{a.checkpoint}: not a catsnn training checkpoint ({e})") from None
    if form != "folded":
        raise UserError(f"{a.checkpoint}: holds a {form!r} network; only a CAT network after "
                        f"its quantised phase ('folded') can be exported")
    ncls = state["fc.weight"].shape[0]
    model = CatNet(args["arch"], "folded", args["T"], ncls, coding=_coding(args))
    model.load_state_dict(state)
    path = export_model(model, a.out, classes=ck.get("classes", []),
                        meta={"train_args": args, "dataset": args.get("dataset", "cifar10")})
    print(f"wrote {path}")
    return 0


def _coding(args: dict):
    """The coding a training run's arguments name (log-TTFS for runs before codings)."""
    from catsnn.codings import Coding
    return Coding.named(args.get("coding", "log-ttfs"), args.get("period", 0),
                        args.get("max_burst", 0))


def cmd_convert(a):
    from catsnn.artifact import save_artifact
    from catsnn.codings import CodingError
    from catsnn.data import load_split
    from catsnn.training.convert import convert
    coding = _coding(vars(a))
    try:
        coding.check_window(a.T)
    except CodingError as e:
        raise UserError(str(e)) from None
    if a.images <= 0:
        raise UserError("--images must be positive")
    train = load_split(_resolve_data(a, a.dataset), train=True, dataset=a.dataset)
    art = convert(a.float_checkpoint, train.images[:a.images], coding, a.T, a.percentile,
                  classes=train.classes, name=a.out.stem.split(".")[0])
    print(f"wrote {save_artifact(art, a.out)} ({coding.name}, T = {a.T}, F = {art.frac_bits}, "
          f"lambdas {', '.join(f'{v:.3g}' for v in art.meta['conversion']['lambdas'])})")
    return 0


def _test_images(a, art):
    from catsnn.data import load_split
    dataset = a.dataset or art.meta.get("dataset", "cifar10")
    split = load_split(_resolve_data(a, dataset), train=False, dataset=dataset)
    if not 0 <= a.offset < len(split):
        raise UserError(f"--offset {a.offset} outside the {len(split)} test images")
    if a.limit is not None and a.limit <= 0:
        raise UserError("--limit must be positive")
    end = len(split) if a.limit is None else min(len(split), a.offset + a.limit)
    return dataset, split.images[a.offset:end], split.labels[a.offset:end]


def cmd_energy(a):
    import time
    import torch
    from catsnn.host.energy import (KINDS, EnergyTable, EnergyTableError, event_energies,
                                    summarise, write_plot)
    from catsnn.numerics import NO_SPIKE
    from catsnn.reference.snn import ReferenceSNN

    art = _load_model(a.model)
    try:
        table = EnergyTable.load(a.table) if a.table else EnergyTable.load()
        table.scale(a.node)
    except EnergyTableError as e:
        raise UserError(str(e)) from None
    if a.pe is not None and a.pe <= 0:
        raise UserError("--pe must be positive")
    dataset, images, _ = _test_images(a, art)
    if art.coding.timed:
        if a.dataflow == "dram":
            raise UserError(f"--dataflow dram models the core, which runs log-TTFS; this "
                            f"model is {art.coding.name}-coded")
        if a.plot:
            raise UserError("--plot draws the spike-time histogram of a log-TTFS model")
        from catsnn.reference.coded_snn import CodedSNN
        snn = CodedSNN(art)
    else:
        snn = ReferenceSNN(art)
    counts, hist = [], torch.zeros(art.T + 1, dtype=torch.float64)
    t0 = time.time()
    for i in range(0, len(images), a.batch):
        r = snn.run(images[i:i + a.batch])
        counts.append((r.input_events, r.sops, r.output_spikes))
        for t in ([] if art.coding.timed else r.spike_times):
            t = t.long().flatten()
            hist[:art.T] += torch.bincount(t[t != NO_SPIKE], minlength=art.T)[:art.T].double()
            hist[art.T] += float((t == NO_SPIKE).sum())
        if not a.quiet:
            print(f"[energy] {min(len(images), i + a.batch)}/{len(images)} images "
                  f"({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    ev, sops, spk = (torch.cat([c[j] for c in counts]) for j in range(3))
    core = None
    if a.dataflow == "dram":
        from catsnn.host.device import core_config_for
        core = core_config_for("core-dram", a.pe or int(table.value("pe")))
    try:
        energies, cycles = event_energies(art, ev, sops, spk, table, a.node, a.pe, core)
    except EnergyTableError as e:
        raise UserError(str(e)) from None
    s = summarise(art, energies, cycles, sops, table, a.node, core.pe if core else a.pe, dataset)
    s["spikes_per_image"] = float(spk.double().sum(1).mean())
    s = {"model": str(a.model), "dataset": dataset, "dataflow": a.dataflow,
         **({"core": core.summary()} if core else {}), **s}
    if a.plot:
        write_plot(a.plot, s, hist / len(images), art.T)
        s["plot"] = str(a.plot)
    if a.json:
        print(json.dumps(s))
        return 0
    print(f"{a.model}: {s['images']} {dataset} test images, {a.node:g} nm, P = {s['pe']}, "
          f"table {table.path}; dataflow {a.dataflow}" + (f" ({s['core']})" if core else ""))
    head = f"{'layer':>9s} {'uJ':>8s} " + " ".join(f"{k[:12]:>12s}" for k in KINDS) + \
        f" {'SOPs':>12s}"
    print(head)
    for p in s["per_layer"]:
        print(f"{p['layer']:>3d} {p['kind']:>5s} {p['uj']:8.3f} " +
              " ".join(f"{p[k]:12.4f}" for k in KINDS) + f" {p['sops']:12,.0f}")
    print(f"{'total':>9s} {s['uj_per_image']:8.3f} " +
          " ".join(f"{s['per_kind'][k]:12.4f}" for k in KINDS) + f" {s['sops_per_image']:12,.0f}")
    print(f"uJ per image: {s['uj_per_image']:.3f} (std {s['uj_std']:.3f}, min {s['uj_min']:.3f}, "
          f"max {s['uj_max']:.3f}); {s['sops_per_image']:,.0f} SOPs per image; "
          f"{s['pj_per_sop']:.2f} pJ per SOP; {s['cycles_per_image']:,.0f} cycles per image")
    if core:
        print(f"of which on chip {s['uj_on_chip']:.3f} uJ, the DRAM's weight reads "
              f"{s['per_kind']['dram']:.3f} uJ")
    if "paper_vgg16_uj" in s:
        print(f"paper (Lew & Park, VGG-16, 28 nm chip): {s['paper_vgg16_uj']} uJ per inference "
              f"on {dataset}; see docs/energy.md for the assumptions behind the difference")
    if a.plot:
        print(f"plot: {a.plot}")
    return 0


def cmd_data(a):
    from catsnn.data import download_cifar
    print(f"{a.dataset} ready in {download_cifar(a.data, a.dataset)}")
    return 0


def _exit_on_signals():
    """SIGTERM and SIGHUP end the command as Ctrl-C does: through the normal exits, which stop
    what it started (the simulator also dies with this process: host/simulation.py). SIGINT is
    Ctrl-C even when this process inherited it ignored (a shell starts background jobs so,
    and Python then installs no handler): `kill -INT` stops it wherever it was started."""
    import signal

    def leave(signum, frame):
        raise SystemExit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, leave)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def cmd_sim(a):
    import time

    from catsnn.gateware.core_config import CoreConfig
    from catsnn.host.simulation import SimulatedSoC, build_sim
    cfg = CoreConfig.compact(a.pe)
    if a.build_only:
        print(build_sim(cfg, ethernet=a.ethernet))
        return 0
    _exit_on_signals()
    with SimulatedSoC(cfg, port=a.tcp_port, bind=a.bind, ethernet=a.ethernet) as sim:
        if a.ethernet:
            name = f"catsnn-sim-{os.getpid()}"
            sim.name_network(name)
            print(f"simulated SoC with Ethernet running (P = {a.pe}) at udp://{sim.soc_ip} in "
                  f"the network namespace {name}; run clients there:", flush=True)
            print(f"ip netns exec {name} catsnn eval models/compact-cifar10.catsnn --backend soc "
                  f"--port udp://{sim.soc_ip} --limit 10 --check", flush=True)
        else:
            print(f"simulated SoC running (P = {a.pe}); connect with --port {sim.url}",
                  flush=True)
            print(f"e.g. catsnn eval models/compact-cifar10.catsnn --backend soc --port "
                  f"{sim.url} --limit 10 --check", flush=True)
        print("Ctrl-C stops it.", flush=True)
        while sim.proc.poll() is None:
            time.sleep(0.5)
        raise UserError(f"the simulation exited (log: {sim.log_path})")


def cmd_bundle(a):
    import numpy as np
    import torch
    from catsnn.boards import pynq
    from catsnn.gateware.core_config import CoreConfig
    from catsnn.gateware.placement import compile_model
    from catsnn.host.board_bundle import Bundle, write_board_folder
    from catsnn.reference.snn import ReferenceSNN

    art = _load_model(a.model)
    compiled = compile_model(art, CoreConfig.compact(a.pe or pynq.DEFAULT_PE))
    _, images, labels = _test_images(a, art)
    runs = [ReferenceSNN(art).run(images[i:i + 250]) for i in range(0, len(images), 250)]
    cat = lambda ts: torch.cat(ts).numpy()      # noqa: E731
    b = Bundle(art.name or Path(a.model).name, art.classes, compiled, images.numpy(),
               labels.numpy(), cat([r.potentials for r in runs]), cat([r.sops for r in runs]),
               [cat(layer) for layer in zip(*[r.spike_times for r in runs])])
    out = write_board_folder(a.out, b)
    print(f"wrote {out}/ ({len(images)} images, core {compiled.cfg.summary()}); on the board, "
          f"in that folder: python3 -m catsnn.host.board_run catsnn-bundle.npz --port "
          f"pynq:catsnn.bit")
    return 0


def cmd_build(a):
    from catsnn.boards import pynq
    if a.board in pynq.BOARDS:          # Vivado targets: sources and script, or a bitstream
        r = pynq.build_pynq(a.board, a.pe)
        if a.json:
            print(json.dumps(r))
        else:
            for k in ("device", "pe", "verilog", "vivado_script", "bitstream"):
                print(f"{k:14s} {r[k]}")
            print(f"{'window':14s} {r['window_bytes'] // 1024} KiB at {r['base_address']:#010x}, "
                  f"FCLK0 {r['fclk_mhz']} MHz")
            print(f"{'next':14s} {r['next']}")
        return 0
    from catsnn.host.board_build import build_board
    r = build_board(a.board, a.device, a.pe, dram=a.dram)
    if a.json:
        print(json.dumps({k: v for k, v in r.items() if k != "utilization"}))
    else:
        for k in ("bitstream", "device", "pe", "luts", "ffs", "brams", "dsp_mult"):
            print(f"{k:10s} {r[k]}")
        fmax = "unknown" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f} MHz"
        print(f"{'fmax':10s} {fmax} (target {r['target_mhz']:.0f} MHz: "
              f"{'met' if r['timing_met'] else 'NOT MET'})")
        print(f"program:   {r['program']}")
        for model, why in r["models"].items():
            if why is None:
                print(f"then:      catsnn eval {model} --backend soc --port /dev/ttyUSB0 "
                      f"--limit 100 --check")
            else:
                print(f"({model} does not fit this build: {why})")
    return 0 if r["timing_met"] else 1


def build_parser():
    from catsnn.host.backends import BACKENDS
    p = argparse.ArgumentParser(prog="catsnn", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true",
                   help="show the build tools' own output (LiteX, meson, Verilator) on the "
                        "console instead of only in the build's log file")
    sub = p.add_subparsers(dest="cmd", required=True)

    sub.add_parser("train", help="train a network (catsnn train --help)", add_help=False)

    e = sub.add_parser("eval", help="evaluate a model artifact with a backend")
    e.add_argument("model", type=Path)
    e.add_argument("--backend", default="reference", choices=BACKENDS,
                   help="reference: the integer SNN; ann: the exact float64 ANN; device (or "
                        "soc): the model on the device at --port; core: the Verilator core "
                        "(--port core, the default, or another core-* port)")
    e.add_argument("--port", default=None,
                   help="the device: 'core' (the log-TTFS core alone under Verilator; "
                        "'core-fit': sized for the model; 'core-dram': its weights in external "
                        "memory; 'core-dram:BOARD': that board's --dram core), 'sim' (a "
                        "simulated SoC started for this run; 'sim-eth': with Ethernet; "
                        "'sim-dram': with Ethernet, SDRAM and the model's weights in it; "
                        "'sim-dram:BOARD': the SoC of that board's --dram build), "
                        "'pynq[:BITFILE]' (on a PYNQ board), udp://HOST (a SoC's "
                        "Ethernet), or a link to a SoC's firmware: a serial device "
                        "(/dev/ttyUSB1) or socket://127.0.0.1:PORT (`catsnn sim`)")
    e.add_argument("--timeout", type=float, default=30.0,
                   help="SoC: seconds to wait for each reply (the simulation is slow)")
    e.add_argument("--pe", type=int, default=None,
                   help="core, sim: processing elements P (output channels per cycle), 1..64 "
                        "(default 16; core-dram:BOARD: the board's)")
    e.add_argument("--jobs", type=int, default=1,
                   help="core, sim: this many simulated devices side by side (one process "
                        "each), the test images split between them")
    _data_args(e)
    e.add_argument("--dataset", choices=["cifar10", "cifar100"], default=None,
                   help="default: the dataset the model was trained on")
    e.add_argument("--offset", type=int, default=0, help="first test image")
    e.add_argument("--limit", type=int, default=None, help="number of test images (default all)")
    e.add_argument("--check", action="store_true",
                   help="compare with the reference model, every layer of every image")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.add_argument("--table", action="store_true",
                   help="with --check: one row per image (label, class, reference, bit-exact)")
    e.add_argument("--batch", type=int, default=250)
    e.add_argument("--quiet", action="store_true", help="no progress lines")
    e.set_defaults(func=cmd_eval)

    i = sub.add_parser("info", help="describe and validate a model artifact")
    i.add_argument("model", type=Path)
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_info)

    x = sub.add_parser("export", help="export a training checkpoint to a model artifact")
    x.add_argument("checkpoint", type=Path)
    x.add_argument("--out", type=Path, required=True)
    x.set_defaults(func=cmd_export)

    cv = sub.add_parser("convert", help="plain conversion of a float ReLU network to an SNN "
                        "artifact (the baseline CAT is compared with)")
    cv.add_argument("float_checkpoint", type=Path, help="final.pt of catsnn train --mode float")
    cv.add_argument("--coding", choices=["log-ttfs", "rate", "phase", "burst"], required=True)
    cv.add_argument("--T", type=int, required=True, help="time window (steps)")
    cv.add_argument("--period", type=int, default=8, help="phase: steps per period K")
    cv.add_argument("--max-burst", type=int, default=3, help="burst: B")
    cv.add_argument("--percentile", type=float, default=99.9,
                    help="data-based normalisation: this percentile of each layer's ReLU "
                         "activations maps to 1")
    cv.add_argument("--images", type=int, default=5000,
                    help="training images the percentiles are taken over (the first N)")
    cv.add_argument("--dataset", choices=["cifar10", "cifar100"], default="cifar10")
    cv.add_argument("--out", type=Path, required=True)
    _data_args(cv)
    cv.set_defaults(func=cmd_convert)

    en = sub.add_parser("energy", help="ASIC energy estimate from real activity")
    en.add_argument("model", type=Path)
    _data_args(en)
    en.add_argument("--dataset", choices=["cifar10", "cifar100"], default=None)
    en.add_argument("--offset", type=int, default=0)
    en.add_argument("--limit", type=int, default=None)
    en.add_argument("--node", type=float, default=28, help="technology node in nm (default 28)")
    en.add_argument("--table", type=Path, default=None,
                    help="energy table JSON (default host/energy_tables/horowitz45.json)")
    en.add_argument("--pe", type=int, default=None, help="processing elements (default: table)")
    en.add_argument("--dataflow", choices=["resident", "dram"], default="resident",
                    help="resident: every weight on chip (default); dram: the core of the DRAM "
                         "boards (catsnn build --dram, --port core-dram): weights read from DRAM "
                         "once per image into a staging buffer, big layers in tiles")
    en.add_argument("--json", action="store_true")
    en.add_argument("--plot", type=Path, default=None, help="write a PNG breakdown")
    en.add_argument("--batch", type=int, default=250)
    en.add_argument("--quiet", action="store_true")
    en.set_defaults(func=cmd_energy)

    d = sub.add_parser("data", help="download a CIFAR dataset")
    d.add_argument("--data", required=True, help="folder to download into")
    d.add_argument("--dataset", choices=["cifar10", "cifar100"], default="cifar10")
    d.set_defaults(func=cmd_data)

    s = sub.add_parser("sim", help="build (cached) and run the simulated SoC")
    s.add_argument("--pe", type=int, default=16, help="processing elements of the core")
    s.add_argument("--tcp-port", type=int, default=0, help="UART TCP port (default: a free one)")
    s.add_argument("--bind", default="127.0.0.1",
                   help="address the UART port listens on (default 127.0.0.1: it is a debug "
                        "port without authentication)")
    s.add_argument("--build-only", action="store_true", help="build, print the folder, exit")
    s.add_argument("--ethernet", action="store_true",
                   help="with LiteEth: the SoC at udp://192.0.2.50 inside a private network "
                        "namespace (root), named catsnn-sim-PID for `ip netns exec`")
    s.set_defaults(func=cmd_sim)

    bu = sub.add_parser("bundle", help="a folder for a board without torch (PYNQ): the model "
                        "compiled for its core, test images, the reference's answers")
    bu.add_argument("model", type=Path)
    bu.add_argument("--out", type=Path, required=True, help="the folder to write")
    bu.add_argument("--pe", type=int, default=None, help="the board core's P (default: the "
                    "PYNQ build's)")
    _data_args(bu)
    bu.add_argument("--dataset", choices=["cifar10", "cifar100"], default=None)
    bu.add_argument("--offset", type=int, default=0, help="first test image")
    bu.add_argument("--limit", type=int, default=100, help="number of test images")
    bu.set_defaults(func=cmd_bundle)

    bd = sub.add_parser("build", help="bitstream for a board (open toolchain)")
    bd.add_argument("--board", required=True,
                    help="ulx3s, colorlight_i5, orangecrab (open toolchain); pynq_z2, pynq_z1 "
                         "(Verilog + Vivado script)")
    bd.add_argument("--device", default=None, help="FPGA variant (default: the board's)")
    bd.add_argument("--pe", type=int, default=None, help="PE lanes (default: the board's)")
    bd.add_argument("--dram", action="store_true",
                    help="the core keeps its weights in the board's DRAM (LiteDRAM) and runs big "
                         "layers in tiles: VGG-16 on an 85F (ulx3s, orangecrab)")
    bd.add_argument("--json", action="store_true")
    bd.set_defaults(func=cmd_build)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "train":
        from catsnn.training.train import main as train_main
        return _guard(lambda: train_main(argv[1:]))
    a = build_parser().parse_args(argv)
    if a.verbose:
        os.environ["CATSNN_VERBOSE"] = "1"
    return _guard(lambda: a.func(a))


def _guard(fn):
    """Known bad input -> one line on stderr and exit status 2, never a traceback."""
    from catsnn.artifact import ArtifactError
    from catsnn.data import DataError
    try:
        return fn()
    except (UserError, ArtifactError, DataError) as e:
        print(f"catsnn: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("catsnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
