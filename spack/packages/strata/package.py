# package.py — the Spack package of Strata (Spack 0.2x API: `from spack.package import *`).
#   spack repo add ./spack            # this folder's repository (spack/repo.yaml), namespace "strata"
#   spack install strata@main +cuda cuda_arch=90
#   spack install --test=root strata@main   # builds and runs the tests (ctest) before installing
# The top-level package.py of the source tree is a link to this file.
# Copyright: see the project README. SPDX-License-Identifier: (Apache-2.0 OR MIT)
import os

from spack.package import *


class Strata(CMakePackage, CudaPackage):
    """Strata trains GPT-style decoder-only Transformers, from a 2-layer test model up to GPT-3 175B,
    on MPI ranks arranged in tensor-, pipeline- and data-parallel groups with ZeRO, tokenized HDF5
    shards and parallel checkpoints. CPU backend (CBLAS + OpenMP) and CUDA backend (cuBLAS, NCCL)."""

    homepage = "https://github.com/strata-llm/strata"
    # The repository to build @main from; STRATA_GIT_URL points Spack at another clone (a file:// URL
    # of a local checkout works offline).
    git = os.environ.get("STRATA_GIT_URL", "https://github.com/strata-llm/strata.git")

    maintainers("strata-llm")
    license("Apache-2.0 OR MIT")

    version("main", branch="main")

    # Variants -> CMake options of CMakeLists.txt (cuda and cuda_arch come from CudaPackage).
    variant("native", default=False, description="Optimize for the build machine's CPU (-march=native)")
    variant("werror", default=False, description="Treat compiler warnings as errors")

    conflicts("cuda_arch=none", when="+cuda", msg="Strata's CUDA backend needs a GPU architecture: set cuda_arch=<sm>, e.g. cuda_arch=90")

    # SPEC section 2.
    depends_on("cmake@3.22:", type="build")
    depends_on("pkgconfig", type="build")
    depends_on("mpi")
    depends_on("hdf5+mpi")
    depends_on("boost@1.71:+program_options")
    depends_on("blas")
    depends_on("nlohmann-json@3.9:")
    depends_on("pcre2")
    depends_on("googletest", type="test")
    with when("+cuda"):
        depends_on("nccl")
        # GPU-aware MPI when Open MPI is the MPI.
        depends_on("openmpi+cuda", when="^[virtuals=mpi] openmpi")

    def cmake_args(self):
        spec = self.spec
        args = [
            self.define_from_variant("STRATA_CUDA", "cuda"),
            self.define_from_variant("STRATA_NATIVE", "native"),
            self.define_from_variant("STRATA_WERROR", "werror"),
            self.define("STRATA_BUILD_TESTS", self.run_tests),
            self.define("HDF5_PREFER_PARALLEL", True),
            # The CBLAS of the spec, not a system OpenBLAS found by default.
            self.define("BLAS_LIBRARIES", spec["blas"].libs.joined(";")),
        ]
        # cblas.h of the spec when Spack finds it in the provider's include/ (an external such as
        # Debian's keeps it in a subfolder, which CMake's search finds by itself).
        headers = spec["blas"].headers.directories
        if headers:
            args.append(self.define("STRATA_CBLAS_INCLUDE_DIR", headers[0]))
        if spec.satisfies("+cuda"):
            args.append(self.define_cuda_architectures(self))
        return args

    def setup_build_environment(self, env):
        # The MPI tests of `spack install --test=root` oversubscribe cores and may run as root.
        env.set("OMPI_MCA_rmaps_base_oversubscribe", "1")
        env.set("OMPI_ALLOW_RUN_AS_ROOT", "1")
        env.set("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        env.set("OMP_WAIT_POLICY", "passive")

    def check(self):
        # ctest in the build folder; the Slurm tests (label "slurm") are left out: they install and start
        # system daemons, which a package build must not do.
        ctest = Executable(self.spec["cmake"].prefix.bin.ctest)
        with working_dir(self.build_directory):
            ctest("--output-on-failure", "--label-exclude", "slurm")
