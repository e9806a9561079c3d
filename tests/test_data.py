"""CIFAR loading: the shared CIFAR-10 copy, CIFAR-100 through the same path, download, errors."""
import hashlib
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from catsnn.data import DataError, download_cifar, load_split, resolve_data_dir



def test_cifar10_test_split(data):
    s = load_split(data, train=False)
    assert tuple(s.images.shape) == (10000, 3, 32, 32) and str(s.images.dtype) == "torch.uint8"
    assert s.labels.bincount().tolist() == [1000] * 10
    assert s.classes[0] == "airplane" and len(s.classes) == 10


def write_cifar100(root: Path, n_train=20, n_test=10):
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, n in (("train", n_train), ("test", n_test)):
        obj = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
               "fine_labels": rng.integers(0, 100, n).tolist(),
               "coarse_labels": rng.integers(0, 20, n).tolist(), "filenames": [b"x"] * n}
        with open(d / name, "wb") as f:
            pickle.dump(obj, f, protocol=2)
    with open(d / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"f{i}" for i in range(100)],
                     "coarse_label_names": [f"c{i}" for i in range(20)]}, f, protocol=2)
    return obj


def test_cifar100_layout(tmp_path):
    last = write_cifar100(tmp_path)
    s = load_split(tmp_path, train=False, dataset="cifar100")
    assert tuple(s.images.shape) == (10, 3, 32, 32) and len(s.classes) == 100
    assert s.labels.tolist() == last["fine_labels"]
    assert s.images[3].flatten().tolist() == last["data"][3].tolist()
    # the dataset folder itself is accepted too
    assert len(load_split(tmp_path / "cifar-100-python", True, "cifar100")) == 20


def test_env_var(monkeypatch, tmp_path):
    write_cifar100(tmp_path)
    monkeypatch.setenv("CATSNN_DATA", str(tmp_path))
    assert resolve_data_dir(None, "cifar100") == tmp_path / "cifar-100-python"
    monkeypatch.delenv("CATSNN_DATA")
    with pytest.raises(DataError, match="CATSNN_DATA"):
        resolve_data_dir(None)


def test_missing_and_corrupt(tmp_path):
    with pytest.raises(DataError, match="no cifar10 data"):
        load_split(tmp_path, False)
    write_cifar100(tmp_path)
    (tmp_path / "cifar-100-python" / "test").write_bytes(b"garbage")
    with pytest.raises(DataError, match="not a readable CIFAR pickle"):
        load_split(tmp_path, False, "cifar100")


def test_download_from_url(tmp_path):
    src = tmp_path / "src"
    write_cifar100(src)
    archive = tmp_path / "cifar-100-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "cifar-100-python", arcname="cifar-100-python")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    dest = tmp_path / "dest"
    got = download_cifar(dest, "cifar100", url=archive.as_uri(), md5=md5)
    assert got == dest / "cifar-100-python"
    assert len(load_split(dest, False, "cifar100")) == 10
    with pytest.raises(DataError, match="md5"):
        download_cifar(tmp_path / "dest2", "cifar100", url=archive.as_uri(), md5="0" * 32)
