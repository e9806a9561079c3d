"""`catsnn energy`: the arithmetic on a hand-computable network, the table's effect, the CLI."""
import json

import pytest
import torch

from catsnn.cli import main as cli_main
from catsnn.host.energy import KINDS, EnergyTable, event_energies, summarise

from helpers import random_artifact

ROUND_TABLE = {
    "name": "round numbers", "node_nm": 45,
    "scaling": {"rule": "test", "voltage_by_node_v": {"45": 1.0, "28": 0.5}},
    "add_pj": {"points": {"8": 1.0, "32": 4.0}, "source": "test"},
    "sram_read_64b_pj": {"points": {"64": 64.0, "128": 64.0}, "source": "test"},
    "sram_write_over_read": {"value": 1.0, "source": "test"},
    "sram_bank_bytes": {"value": 1e9, "source": "test"},
    "membrane_rmw_per_sop": {"value": 1, "source": "test"},
    "control_pj_per_cycle": {"value": 0.5, "source": "test"},
    "leakage_mw": {"value": 1.0, "source": "test"},
    "clock_mhz": {"value": 1000.0, "source": "test"},
    "pe": {"value": 1, "source": "test"},
    "dram_pj_per_bit": {"value": 0.25, "source": "test"},
}


def table(tmp_path, **changes):
    raw = json.loads(json.dumps(ROUND_TABLE))
    for k, v in changes.items():
        raw[k]["value"] = v
    path = tmp_path / "t.json"
    path.write_text(json.dumps(raw))
    return EnergyTable.load(path)


def tiny():
    # conv 3 -> 2 on 4x4 with pooling (32 neurons, 48 inputs, 8 outputs written), fc 8 -> 3
    art = random_artifact([2, "P"], T=8, size=4, classes=3)
    art.acc_bits = 16  # W: add = 2 pJ, one membrane access = 16 pJ with these round numbers
    counts = (torch.tensor([[5, 2]]), torch.tensor([[10, 4]]), torch.tensor([[3, 0]]))
    return art, counts


def test_hand_computed_energy(tmp_path):
    art, (ev, sops, spk) = tiny()
    e, cycles = event_energies(art, ev, sops, spk, table(tmp_path), node_nm=45)
    by_kind = dict(zip(KINDS, e[0, 0].tolist()))
    # layer 0: 90 cycles = 10 SOPs + 32 neurons + 48 inputs (P = 1)
    assert cycles[0].tolist() == [90, 15]
    assert by_kind == {"synaptic_add": 20.0, "weight_read": 50.0, "membrane_rw": 1344.0,
                       "spike_map_rw": 416.0, "encode": 64.0, "control": 45.0, "leakage": 90.0,
                       "dram": 0.0}
    assert dict(zip(KINDS, e[0, 1].tolist())) == {
        "synaptic_add": 8.0, "weight_read": 20.0, "membrane_rw": 224.0, "spike_map_rw": 80.0,
        "encode": 0.0, "control": 7.5, "leakage": 15.0, "dram": 0.0}
    s = summarise(art, e, cycles, sops, table(tmp_path), 45, None, "cifar10")
    assert s["uj_per_image"] == pytest.approx(2383.5e-6)
    assert sum(p["uj"] for p in s["per_layer"]) == pytest.approx(s["uj_per_image"])
    assert s["pj_per_sop"] == pytest.approx(2383.5 / 14)
    # scaling to 28 nm: (28 / 45) * (0.5 / 1.0)^2
    e28, _ = event_energies(art, ev, sops, spk, table(tmp_path), node_nm=28)
    assert float(e28.sum()) == pytest.approx(2383.5 * 28 / 45 * 0.25)


def test_hand_computed_energy_of_the_dram_dataflow(tmp_path):
    """The DRAM boards' core at P = 1 with membranes for one group of the 4 x 4 map: the conv
    layer runs as 2 tiles (its input map scanned twice), every weight word read from DRAM once
    (4 bytes each at P = 1) and written into the staging buffer."""
    from catsnn.gateware.core_config import CoreConfig
    art, (ev, sops, spk) = tiny()
    core = CoreConfig(pe=1, weight_depth=27, membrane_depth=16, map_depth=8, bias_depth=8,
                      image_depth=48, max_layers=4, external_weights=True)
    e, cycles = event_energies(art, ev, sops, spk, table(tmp_path), node_nm=45, core=core)
    # layer 0: 10 SOPs + 32 neurons + 2 x 48 inputs scanned; 2 x 27 weight words = 216 bytes
    assert cycles[0].tolist() == [138, 15]
    assert dict(zip(KINDS, e[0, 0].tolist())) == {
        "synaptic_add": 20.0, "weight_read": 50.0 + 216 * 8, "membrane_rw": 1344.0,
        "spike_map_rw": 96 * 8 + 8 * 4, "encode": 64.0, "control": 69.0, "leakage": 138.0,
        "dram": 216 * 8 * 0.25}
    # the fc layer: 2 x 2 x 2 inputs x 3 groups = 24 words (96 bytes), one entry
    assert dict(zip(KINDS, e[0, 1].tolist())) == {
        "synaptic_add": 8.0, "weight_read": 20.0 + 96 * 8, "membrane_rw": 224.0,
        "spike_map_rw": 80.0, "encode": 0.0, "control": 7.5, "leakage": 15.0,
        "dram": 96 * 8 * 0.25}
    s = summarise(art, e, cycles, sops, table(tmp_path), 45, 1, "cifar10")
    assert s["uj_per_image"] - s["uj_on_chip"] == pytest.approx((216 + 96) * 2e-6)
    # DRAM energy is the DRAM chip's: the node does not scale it
    e28, _ = event_energies(art, ev, sops, spk, table(tmp_path), node_nm=28, core=core)
    assert e28[0, :, KINDS.index("dram")].tolist() == e[0, :, KINDS.index("dram")].tolist()
    raw = json.loads(json.dumps(ROUND_TABLE))
    del raw["dram_pj_per_bit"]
    (tmp_path / "no-dram.json").write_text(json.dumps(raw))
    with pytest.raises(Exception, match="'dram_pj_per_bit' is needed for the DRAM dataflow"):
        event_energies(art, ev, sops, spk, EnergyTable.load(tmp_path / "no-dram.json"), 45,
                       core=core)


def test_a_changed_table_changes_the_result(tmp_path):
    art, (ev, sops, spk) = tiny()
    base = float(event_energies(art, ev, sops, spk, table(tmp_path), 45)[0].sum())
    more_leak = float(event_energies(art, ev, sops, spk, table(tmp_path, leakage_mw=2.0), 45)[0].sum())
    assert more_leak == pytest.approx(base + 105)  # 105 cycles, +1 pJ each
    no_rmw = float(event_energies(art, ev, sops, spk, table(tmp_path, membrane_rmw_per_sop=0), 45)[0].sum())
    assert no_rmw == pytest.approx(base - (10 + 4) * 32)


def test_energy_cli_json_and_plot(tmp_path, capsys, data, shipped_model):
    plot = tmp_path / "e.png"
    rc = cli_main(["energy", str(shipped_model), "--data", data, "--limit", "20", "--json", "--quiet",
                   "--plot", str(plot)])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["images"] == 20 and r["uj_per_image"] > 0 and r["paper_vgg16_uj"] == 486.7
    assert sum(p["uj"] for p in r["per_layer"]) == pytest.approx(r["uj_per_image"])
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert r["dataflow"] == "resident" and r["per_kind"]["dram"] == 0
    # the DRAM boards' core: its DRAM reads counted apart, cheaper (smaller) membrane banks
    assert cli_main(["energy", str(shipped_model), "--data", data, "--limit", "20", "--json",
                     "--quiet", "--dataflow", "dram"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["dataflow"] == "dram" and d["pe"] == 16 and "staged" in d["core"]
    assert d["per_kind"]["dram"] == pytest.approx(239_496 * 8 * 20.3e-6)
    assert d["per_kind"]["membrane_rw"] < r["per_kind"]["membrane_rw"]
    assert d["cycles_per_image"] > r["cycles_per_image"]       # tiles scan their input again
    # a user table with other numbers gives another answer
    raw = json.loads(json.dumps(ROUND_TABLE))
    raw["scaling"]["voltage_by_node_v"]["28"] = 0.9
    (tmp_path / "mine.json").write_text(json.dumps(raw))
    assert cli_main(["energy", str(shipped_model), "--data", data, "--limit", "20", "--json", "--quiet",
                     "--table", str(tmp_path / "mine.json")]) == 0
    assert json.loads(capsys.readouterr().out)["uj_per_image"] != pytest.approx(r["uj_per_image"])


def test_bad_table_is_one_error(tmp_path, capsys, data, shipped_model):
    (tmp_path / "bad.json").write_text("{not json")
    assert cli_main(["energy", str(shipped_model), "--data", data, "--table", str(tmp_path / "bad.json")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert cli_main(["energy", str(shipped_model), "--data", data, "--node", "3"]) == 2
    assert "no supply voltage for 3 nm" in capsys.readouterr().err
