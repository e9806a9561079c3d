"""The board bundle: a compiled model, test images and the reference's answers in one file, for
a board whose Python has no torch (a PYNQ-Z1/Z2's 32-bit ARM: no torch wheel exists for it).

The host compiles (``catsnn bundle``: placement, model image, the reference SNN's spike maps,
potentials and SOPs); the board only runs and compares (``host/board_run.py``), with numpy and
the few torch-free modules in ``BOARD_MODULES``, which ``write_board_folder`` copies beside the
bundle (so the board needs neither a pip install of catsnn nor its Python version).

The bundle is a numpy ``.npz`` (read with ``allow_pickle=False``):

* ``meta``: UTF-8 JSON bytes: ``format`` "catsnn-bundle", ``version`` 1, ``model`` (name),
  ``class_names``, ``placement`` (``CompiledModel.to_json``: the core and the layer plans),
  ``firing_layers`` (indices of the layers whose spike maps are stored);
* ``model_image`` uint8: the model image (``gateware/model_image.py``);
* ``pixels`` uint8 (N, C, H, W), ``labels`` int64 (N);
* ``want_potentials`` int64 (N, classes), ``want_sops`` int64 (N, layers);
* ``want_map_L`` uint8 (N, C, H, W) for each firing layer L: spike times, 255 = no spike.
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from catsnn.errors import UserError
from catsnn.gateware.placement import CompiledModel

FORMAT, VERSION = "catsnn-bundle", 1
BUNDLE_NAME = "catsnn-bundle.npz"

# what host/board_run.py imports (its import closure; tests/test_board_run.py runs the copy
# with torch made unimportable)
BOARD_MODULES = ("catsnn", "catsnn.errors", "catsnn.progress",
                 "catsnn.gateware", "catsnn.gateware.core_config", "catsnn.gateware.model_image",
                 "catsnn.gateware.placement",
                 "catsnn.host", "catsnn.host.device", "catsnn.host.window_device",
                 "catsnn.host.pynq_device", "catsnn.host.driver", "catsnn.host.board_bundle",
                 "catsnn.host.board_run")


class BundleError(UserError):
    pass


@dataclass
class Bundle:
    model: str
    class_names: list
    compiled: CompiledModel
    pixels: np.ndarray            # uint8 (N, C, H, W)
    labels: np.ndarray            # int64 (N,)
    want_potentials: np.ndarray   # int64 (N, classes)
    want_sops: np.ndarray         # int64 (N, layers)
    want_maps: list               # per firing layer: uint8 (N, C, H, W)

    def __len__(self):
        return len(self.pixels)


def write_bundle(path: Path, b: Bundle) -> Path:
    meta = {"format": FORMAT, "version": VERSION, "model": b.model,
            "class_names": list(b.class_names), "placement": b.compiled.to_json(),
            "firing_layers": b.compiled.firing_layers}
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
              "model_image": np.frombuffer(b.compiled.image, dtype=np.uint8),
              "pixels": b.pixels.astype(np.uint8), "labels": b.labels.astype(np.int64),
              "want_potentials": b.want_potentials.astype(np.int64),
              "want_sops": b.want_sops.astype(np.int64)}
    for layer, m in zip(meta["firing_layers"], b.want_maps):
        arrays[f"want_map_{layer}"] = m.astype(np.uint8)
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:            # np.savez adds .npz to a name; a file object keeps it
        np.savez_compressed(f, **arrays)
    tmp.replace(path)
    return path


def load_bundle(path) -> Bundle:
    """Read and check a bundle; anything wrong is one BundleError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise BundleError(f"{path}: no such bundle (catsnn bundle MODEL --out DIR writes one)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise BundleError(f"{path}: not a catsnn bundle ({e})") from None
    try:
        meta = json.loads(bytes(arrays["meta"]).decode())
        if meta.get("format") != FORMAT or meta.get("version") != VERSION:
            raise BundleError(f"{path}: format {meta.get('format')!r} version "
                              f"{meta.get('version')!r}, this reader takes {FORMAT!r} {VERSION}")
        compiled = CompiledModel.from_json(meta["placement"], arrays["model_image"].tobytes())
        b = Bundle(meta["model"], meta["class_names"], compiled, arrays["pixels"],
                   arrays["labels"], arrays["want_potentials"], arrays["want_sops"],
                   [arrays[f"want_map_{i}"] for i in meta["firing_layers"]])
    except BundleError:
        raise
    except (KeyError, TypeError, ValueError, UnicodeDecodeError) as e:
        raise BundleError(f"{path}: a damaged catsnn bundle ({type(e).__name__}: {e})") from None
    n, plans = len(b.pixels), compiled.plans
    firing = [p for p in plans[:-1] if p.fires]
    shapes = {"pixels": (b.pixels.ndim == 4 and b.pixels.dtype == np.uint8),
              "labels": b.labels.shape == (n,),
              "want_potentials": b.want_potentials.shape == (n, compiled.classes),
              "want_sops": b.want_sops.shape == (n, len(plans))}
    shapes.update({f"want_map of layer {i}": m.shape[:2] == (n, p.cout)
                   for i, (p, m) in enumerate(zip(firing, b.want_maps))})
    bad = [k for k, ok in shapes.items() if not ok]
    if bad:
        raise BundleError(f"{path}: a damaged catsnn bundle (wrong shape: {', '.join(bad)})")
    return b


def write_board_folder(out: Path, bundle: Bundle) -> Path:
    """``out``/catsnn-bundle.npz and ``out``/catsnn/ (the modules in BOARD_MODULES): copy the
    folder to the board and run ``python3 -m catsnn.host.board_run catsnn-bundle.npz``
    inside it."""
    out = Path(out)
    for name in BOARD_MODULES:      # where this installation (checkout or wheel) has them
        spec = importlib.util.find_spec(name)
        dst = out / Path(*name.split("."))
        dst = dst / "__init__.py" if spec.submodule_search_locations else dst.with_suffix(".py")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(spec.origin, dst)
    write_bundle(out / BUNDLE_NAME, bundle)
    return out
