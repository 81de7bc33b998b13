"""Builds libinfer.so from the enclosing repository with CMake and ships it inside the
package, so `pip install ./python` gives a working `import libinfer`.

Build-time environment:
  LIBINFER_LIBRARY=/path/libinfer.so  copy this library instead of building one
  LIBINFER_CMAKE_BUILD_DIR=DIR        build in DIR (reused between installs) instead of a
                                      temporary directory
  LIBINFER_CMAKE_ARGS="-D..."         extra CMake arguments (e.g. -DINFER_VULKAN=OFF)
  LIBINFER_SKIP_BUILD=1               ship no library: one is found at run time
                                      ($LIBINFER_LIBRARY or the system loader)
Only the library target is built (no tools, no tests).
"""
import os
import shlex
import shutil
import subprocess
import sys

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _log(msg):
    print(f"libinfer setup: {msg}", file=sys.stderr, flush=True)


def _build_library(build_temp):
    given = os.environ.get("LIBINFER_LIBRARY")
    if given:
        if not os.path.isfile(given):
            raise RuntimeError(f"LIBINFER_LIBRARY={given} is not a file")
        return os.path.realpath(given)
    if not os.path.isfile(os.path.join(REPO, "CMakeLists.txt")) or not os.path.isfile(
            os.path.join(REPO, "include", "infer.h")):
        raise RuntimeError(f"{REPO} is not the libinfer repository: set LIBINFER_LIBRARY to a built "
                           "libinfer.so, or LIBINFER_SKIP_BUILD=1 to use an installed one")
    cmake = shutil.which("cmake")
    if not cmake:
        raise RuntimeError("cmake not found: needed to build libinfer.so (or set LIBINFER_LIBRARY)")
    bdir = os.environ.get("LIBINFER_CMAKE_BUILD_DIR") or os.path.join(os.path.abspath(build_temp), "libinfer-cmake")
    args = [cmake, "-S", REPO, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release", "-DINFER_BUILD_TESTS=OFF"]
    args += shlex.split(os.environ.get("LIBINFER_CMAKE_ARGS", ""))
    _log(" ".join(args))
    subprocess.check_call(args)
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(min(os.cpu_count() or 1, 8))
    subprocess.check_call([cmake, "--build", bdir, "--target", "infer", "-j", jobs])
    lib = os.path.join(bdir, "libinfer.so")
    if not os.path.exists(lib):
        raise RuntimeError(f"the CMake build did not produce {lib}")
    return os.path.realpath(lib)


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        if os.environ.get("LIBINFER_SKIP_BUILD"):
            _log("LIBINFER_SKIP_BUILD set: no library bundled")
            return
        lib = _build_library(self.get_finalized_command("build").build_temp)
        dest = os.path.join(self.build_lib, "libinfer", "libinfer.so")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(lib, dest)
        _log(f"bundled {lib} as {dest}")


class BinaryDistribution(Distribution):
    """The wheel carries a native library: mark it platform-specific."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildPyWithLibrary}, distclass=BinaryDistribution)
