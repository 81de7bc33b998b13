"""`pip install ./python` into a fresh virtual environment, then import from it.

No network: --no-index and --no-build-isolation, the build tools (setuptools, wheel)
seen through a .pth file pointing at the running interpreter's site-packages. The
library under test is bundled by setting LIBINFER_LIBRARY at build time (building it
with CMake from scratch is the default when unset, which takes minutes on two cores).
pip builds in the directory it is given, so the package's sources are copied first:
the test never writes into the source tree (two builds may run it at once).
"""
import os
import shutil
import subprocess
import sys
import sysconfig

from conftest import REPO

import libinfer


def test_pip_install_into_venv(tmp_path, stories_path):
    try:
        import setuptools, wheel   # noqa: F401
    except ImportError as e:
        raise AssertionError(f"{e}: the build tools are missing from {sys.prefix} (run scripts/setup.sh)")
    venv = tmp_path / "venv"
    # No pip inside the new environment (ensurepip takes most of a minute): the running
    # interpreter's pip installs into it with --python.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    with open(os.path.join(site, "_build_tools.pth"), "w") as f:
        f.write(sysconfig.get_paths()["purelib"] + "\n")
    src = tmp_path / "python"
    shutil.copytree(os.path.join(REPO, "python"), src,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "libinfer.so*", "tests"))
    env = dict(os.environ, LIBINFER_LIBRARY=os.path.abspath(libinfer.library_path), PIP_NO_INDEX="1")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-build-isolation", "--no-index",
                        str(src)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    env.pop("LIBINFER_LIBRARY")
    code = ("import libinfer, sys; from libinfer import Llama; "
            "llm = Llama(sys.argv[1], n_ctx=64, verbose=False); "
            "print(libinfer.library_path); print(llm.tokenize(b'Hello world'))")
    r = subprocess.run([str(py), "-c", code, stories_path], env=env, cwd=str(tmp_path), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lib_path, toks = r.stdout.splitlines()
    assert lib_path.startswith(site) and lib_path.endswith("libinfer.so")   # the bundled copy
    assert toks == "[1, 346, 306, 414, 263, 304, 341]"   # stories260K.out's "Hello world" after BOS
