"""catsnn as an installed package, away from the checkout: the wheel carries the sources the
flow compiles (firmware, Verilator harness, the simulator's UART module), builds go to the
user's cache folder, models are taken by path."""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs_the_core(tmp_path, shipped_model, data):
    # built from a copy of the sources: setuptools' build/lib in the checkout would keep files
    # that no longer exist and put them in the wheel
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "runs", "models", "*.egg-info", "__pycache__"))
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist), str(src)], check=True, cwd=tmp_path)
    (wheel,) = dist.glob("catsnn-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in ("catsnn/firmware/main.c", "catsnn/firmware/Makefile", "catsnn/firmware/linker.ld",
              "catsnn/gateware/sim/core_harness.cpp", "catsnn/gateware/log_ttfs_core.py",
              "catsnn/boards/sim_modules/catsnn_serial2tcp/catsnn_serial2tcp.c",
              "catsnn/host/energy_tables/horowitz45.json"):
        assert f in names, f"{f} missing from {wheel.name}"

    # a fresh venv with the wheel; the pinned dependencies come from this venv's site-packages
    # (a path on sys.path: its .pth files, among them the editable install's, are not run)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True).stdout
    Path(site.strip(), "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CATSNN_BUILD", "PYTHONPATH")}
    env.update(XDG_CACHE_HOME=str(tmp_path / "cache"),
               PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}")
    where = subprocess.run([str(py), "-c", "import catsnn; print(catsnn.__file__)"], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)), where
    catsnn = str(venv / "bin" / "catsnn")
    info = subprocess.run([catsnn, "info", str(shipped_model)], cwd=work, env=env,
                          capture_output=True, text=True)
    assert info.returncode == 0 and "307,040 weights" in info.stdout, info.stderr
    run = subprocess.run([catsnn, "eval", str(shipped_model), "--backend", "core", "--data", data,
                          "--limit", "2", "--check", "--json", "--quiet"], cwd=work, env=env,
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    r = json.loads(run.stdout)
    assert r["images"] == 2 and r["mismatches"] == 0
    assert list((tmp_path / "cache" / "catsnn" / "core").glob("16pe-*/libcatsnn_core.so"))
