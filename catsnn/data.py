"""CIFAR-10 / CIFAR-100 in the standard python-pickle layouts, as uint8 tensors.

Where the data is looked for, in order: the ``--data DIR`` option, the ``CATSNN_DATA`` environment
variable. DIR may be the dataset folder itself (``cifar-10-batches-py``, ``cifar-100-python``) or
the folder holding it. ``download_cifar`` fetches the official archives (the torchvision layout).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATASETS = {
    "cifar10": {
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "labels": "labels",
        "meta": ("batches.meta", "label_names"),
        "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "md5": "c58f30108f718f92721af3b95e74349a",
    },
    "cifar100": {
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "labels": "fine_labels",
        "meta": ("meta", "fine_label_names"),
        "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "md5": "eb9058c3a382ffc7106e4002c42a8d85",
    },
}


class DataError(Exception):
    """A dataset that is missing or not in the expected format."""


@dataclass
class Split:
    images: torch.Tensor  # uint8, N x 3 x 32 x 32
    labels: torch.Tensor  # int64, N
    classes: list[str]

    def __len__(self):
        return len(self.labels)


def resolve_data_dir(data: str | os.PathLike | None, dataset: str = "cifar10") -> Path:
    """The dataset folder from --data or CATSNN_DATA; a clear DataError if it is not there."""
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset '{dataset}' (known: {', '.join(DATASETS)})")
    folder = DATASETS[dataset]["folder"]
    if data is None:
        data = os.environ.get("CATSNN_DATA")
    if data is None:
        raise DataError(f"no data directory: pass --data DIR or set CATSNN_DATA "
                        f"(a folder holding {folder}/, or --download)")
    p = Path(data).expanduser()
    for cand in (p, p / folder):
        if (cand / DATASETS[dataset]["test"][0]).is_file():
            return cand
    raise DataError(f"{p}: no {dataset} data found (expected {folder}/"
                    f"{DATASETS[dataset]['test'][0]} there or in {p / folder})")


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = pickle.load(f, encoding="latin1")
    except FileNotFoundError:
        raise DataError(f"{path}: file missing") from None
    except Exception as e:  # truncated or not a pickle
        raise DataError(f"{path}: not a readable CIFAR pickle ({type(e).__name__}: {e})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: expected a dict, found {type(obj).__name__}")
    return obj


def load_split(data: str | os.PathLike | None, train: bool, dataset: str = "cifar10") -> Split:
    root = resolve_data_dir(data, dataset)
    spec = DATASETS[dataset]
    meta_file, meta_key = spec["meta"]
    meta = _unpickle(root / meta_file)
    classes = list(meta.get(meta_key, []))
    images, labels = [], []
    for name in spec["train" if train else "test"]:
        d = _unpickle(root / name)
        if "data" not in d or spec["labels"] not in d:
            raise DataError(f"{root / name}: missing 'data' or '{spec['labels']}'")
        x = np.asarray(d["data"])
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
            raise DataError(f"{root / name}: data must be uint8 N x 3072, found "
                            f"{x.dtype} {x.shape}")
        y = np.asarray(d[spec["labels"]], dtype=np.int64)
        if len(y) != len(x):
            raise DataError(f"{root / name}: {len(x)} images but {len(y)} labels")
        images.append(x.reshape(-1, 3, 32, 32))
        labels.append(y)
    y = torch.from_numpy(np.concatenate(labels))
    if len(classes) and (y.min() < 0 or y.max() >= len(classes)):
        raise DataError(f"{root}: labels outside 0..{len(classes) - 1}")
    return Split(torch.from_numpy(np.concatenate(images)), y, classes)


def download_cifar(dest: str | os.PathLike, dataset: str = "cifar10", url: str | None = None,
                   md5: str | None = None) -> Path:
    """Download and unpack the official archive into dest (skipped if already there)."""
    spec = DATASETS[dataset]
    dest = Path(dest).expanduser()
    try:
        return resolve_data_dir(dest, dataset)
    except DataError:
        pass
    dest.mkdir(parents=True, exist_ok=True)
    url = url or spec["url"]
    md5 = spec["md5"] if md5 is None else md5
    archive = dest / Path(url).name
    print(f"downloading {url} -> {archive}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=60) as r, open(archive, "wb") as f:
            total, done = int(r.headers.get("Content-Length") or 0), 0
            while chunk := r.read(1 << 20):
                f.write(chunk)
                done += len(chunk)
                if total:
                    print(f"\r  {done >> 20}/{total >> 20} MiB", end="", file=sys.stderr)
        print(file=sys.stderr)
    except OSError as e:
        raise DataError(f"download of {url} failed: {e}") from None
    if md5:
        got = hashlib.md5(archive.read_bytes()).hexdigest()
        if got != md5:
            raise DataError(f"{archive}: md5 {got} does not match the expected {md5}")
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    except tarfile.TarError as e:
        raise DataError(f"{archive}: not a valid tar archive ({e})") from None
    return resolve_data_dir(dest, dataset)
