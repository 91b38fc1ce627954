#!/usr/bin/env python3
"""check_package.py — checks Strata's Spack package without Spack (ctest spack.package).

Loads package.py with a stand-in `spack.package` module that records the directives, then checks:
the top-level package.py is the repository's (spack/packages/strata/package.py) and spack/repo.yaml
names the namespace; class Strata(CMakePackage, CudaPackage); version("main", branch="main"); the
variants; the SPEC section 2 dependencies, nccl only under +cuda, googletest for tests; a conflict for
+cuda without cuda_arch; and that cmake_args() (run for ~cuda and +cuda on a stand-in spec) names only
cache variables that CMakeLists.txt and cmake/*.cmake define, covering every STRATA_* option().
Usage: check_package.py SOURCE_DIR. Exit 0 when every check passes, 1 otherwise (listing each failure).
"""
import contextlib
import os
import re
import sys
import types

SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


# ---- a stand-in for `spack.package`: directives record what the package declares ----
recorded = {"versions": [], "variants": {}, "depends": [], "conflicts": [], "maintainers": [], "licenses": []}
when_stack = []


def _when_of(kwargs):
    conds = list(when_stack) + ([kwargs["when"]] if "when" in kwargs else [])
    return " ".join(conds)


def version(name, **kwargs):
    recorded["versions"].append((name, kwargs))


def variant(name, **kwargs):
    recorded["variants"][name] = kwargs


def depends_on(spec, **kwargs):
    recorded["depends"].append((spec, _when_of(kwargs), kwargs.get("type", ("build", "link"))))


def conflicts(spec, **kwargs):
    recorded["conflicts"].append((spec, _when_of(kwargs)))


def maintainers(*names):
    recorded["maintainers"].extend(names)


def license(name, **kwargs):  # noqa: A001 (Spack's directive name)
    recorded["licenses"].append(name)


@contextlib.contextmanager
def when(cond):
    when_stack.append(cond)
    yield
    when_stack.pop()


class CMakePackage:
    run_tests = False

    def __init__(self, spec):
        self.spec = spec

    @staticmethod
    def define(name, value):
        if isinstance(value, bool):
            value = "ON" if value else "OFF"
        return "-D%s=%s" % (name, value)

    def define_from_variant(self, name, variant_name):
        check(variant_name in recorded["variants"] or variant_name == "cuda",
              "define_from_variant(%s, %s): no such variant" % (name, variant_name))
        return self.define(name, bool(self.spec.variants.get(variant_name, False)))


class CudaPackage:
    @staticmethod
    def define_cuda_architectures(pkg):
        return "-DCMAKE_CUDA_ARCHITECTURES=90"


class _Libs:
    def joined(self, sep=" "):
        return sep.join(["/opt/blas/lib/libopenblas.so"])


class _Headers:
    directories = ["/opt/blas/include"]


class _Dep:
    libs = _Libs()
    headers = _Headers()


class FakeSpec:
    def __init__(self, cuda):
        self.variants = {"cuda": cuda, "native": False, "werror": False}

    def satisfies(self, s):
        return s == "+cuda" and self.variants["cuda"]

    def __getitem__(self, name):
        return _Dep()


stub = types.ModuleType("spack.package")
for name in ["version", "variant", "depends_on", "conflicts", "maintainers", "license", "when", "CMakePackage",
             "CudaPackage"]:
    setattr(stub, name, globals()[name])
stub.Executable = lambda path: (lambda *args: None)
stub.working_dir = lambda path: contextlib.nullcontext()
stub.__all__ = [n for n in dir(stub) if not n.startswith("_")]
sys.modules["spack"] = types.ModuleType("spack")
sys.modules["spack.package"] = stub

# ---- the files ----
top = os.path.join(SRC, "package.py")
repo_pkg = os.path.join(SRC, "spack", "packages", "strata", "package.py")
check(os.path.isfile(top), "package.py missing at the top level")
check(os.path.isfile(repo_pkg), "spack/packages/strata/package.py missing")
if os.path.isfile(top) and os.path.isfile(repo_pkg):
    check(open(top).read() == open(repo_pkg).read(), "package.py differs from spack/packages/strata/package.py")
repo_yaml = os.path.join(SRC, "spack", "repo.yaml")
check(os.path.isfile(repo_yaml) and re.search(r"^\s*namespace:\s*['\"]?strata['\"]?\s*$", open(repo_yaml).read(), re.M),
      "spack/repo.yaml must declare `namespace: strata`")

namespace = {}
exec(compile(open(repo_pkg).read(), repo_pkg, "exec"), namespace)
cls = namespace.get("Strata")
check(cls is not None, "no class Strata in package.py")
if cls is None:
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)
check([b.__name__ for b in cls.__bases__] == ["CMakePackage", "CudaPackage"],
      "class Strata must derive from (CMakePackage, CudaPackage), found %s" % [b.__name__ for b in cls.__bases__])
check(cls.__doc__ and len(cls.__doc__.strip()) > 20, "class Strata needs a description (docstring)")
for attr in ["homepage", "git"]:
    check(isinstance(getattr(cls, attr, None), str) and getattr(cls, attr), "package attribute %s missing" % attr)
check(recorded["maintainers"], "maintainers(...) missing")
check(recorded["licenses"], "license(...) missing")

# Versions.
check(("main", {"branch": "main"}) in recorded["versions"], 'version("main", branch="main") missing')

# Variants.
for v in ["native", "werror"]:
    check(v in recorded["variants"], "variant %s missing" % v)
    check(recorded["variants"].get(v, {}).get("description"), "variant %s has no description" % v)
check(("cuda_arch=none", "+cuda") in recorded["conflicts"], 'conflicts("cuda_arch=none", when="+cuda") missing')

# Dependencies: SPEC section 2.
deps = {}
for spec, cond, dtype in recorded["depends"]:
    name = re.match(r"[a-z0-9-]+", spec).group(0)
    deps.setdefault(name, []).append((spec, cond, dtype))
for name in ["cmake", "mpi", "hdf5", "boost", "blas", "nlohmann-json", "pcre2", "googletest", "nccl"]:
    check(name in deps, "depends_on(%s) missing" % name)
check(any("+mpi" in s for s, _, _ in deps.get("hdf5", [])), "hdf5 must be the MPI build (hdf5+mpi)")
check(any("+program_options" in s for s, _, _ in deps.get("boost", [])), "boost needs +program_options")
check(all(c == "+cuda" for _, c, _ in deps.get("nccl", [])), "nccl must be needed only with +cuda, found %s" % deps.get("nccl"))
check(all(c == "" for n in ["mpi", "hdf5", "boost", "blas", "nlohmann-json", "pcre2"] for _, c, _ in deps.get(n, [])),
      "the CPU dependencies must be unconditional")
check(all("test" in (t if isinstance(t, tuple) else (t,)) for _, _, t in deps.get("googletest", [])),
      "googletest must be a test dependency")
check(all(t == "build" for _, _, t in deps.get("cmake", [])), "cmake must be a build dependency")
check(any(s.startswith("cmake@3.22") for s, _, _ in deps.get("cmake", [])), "cmake@3.22: (CMakeLists.txt's minimum) missing")
cmake_min = re.search(r"cmake_minimum_required\(VERSION ([0-9.]+)\)", open(os.path.join(SRC, "CMakeLists.txt")).read())
check(cmake_min and any(s == "cmake@%s:" % cmake_min.group(1) for s, _, _ in deps.get("cmake", [])),
      "depends_on(cmake@X:) must match cmake_minimum_required")

# cmake_args against the CMake cache variables.
cmake_text = open(os.path.join(SRC, "CMakeLists.txt")).read()
cmake_dir = os.path.join(SRC, "cmake")
for f in sorted(os.listdir(cmake_dir)) if os.path.isdir(cmake_dir) else []:
    if f.endswith(".cmake"):
        cmake_text += open(os.path.join(cmake_dir, f)).read()
options = set(re.findall(r"option\((STRATA_\w+)", cmake_text))
cache_vars = options | set(re.findall(r"set\((\w+)[^)]*\bCACHE\b", cmake_text))
# Variables CMake itself or the find modules CMakeLists.txt uses read (FindHDF5, FindBLAS, CUDA).
cmake_known = {"HDF5_PREFER_PARALLEL", "BLAS_LIBRARIES", "CMAKE_CUDA_ARCHITECTURES", "STRATA_CBLAS_INCLUDE_DIR"}
check("STRATA_CUDA" in cache_vars, "CMakeLists.txt no longer defines STRATA_CUDA")
for cuda in (False, True):
    pkg = cls(FakeSpec(cuda))
    args = pkg.cmake_args()
    names = [re.match(r"-D(\w+)", a).group(1) for a in args]
    for n in names:
        check(n in cache_vars or n in cmake_known,
              "cmake_args names %s, which is no option()/cache variable of CMakeLists.txt or cmake/*.cmake" % n)
    check(set(options) <= set(names), "cmake_args misses the CMake options %s" % sorted(set(options) - set(names)))
    check(("-DSTRATA_CUDA=ON" if cuda else "-DSTRATA_CUDA=OFF") in args, "STRATA_CUDA must follow the cuda variant")
    check(("CMAKE_CUDA_ARCHITECTURES" in names) == cuda, "CMAKE_CUDA_ARCHITECTURES only with +cuda")

if failures:
    print("\n".join("FAIL: " + f for f in failures))
    sys.exit(1)
print("spack package: class, version main, variants %s, %d dependencies, cmake_args %s: OK"
      % (sorted(recorded["variants"]), len(recorded["depends"]), sorted(options)))
