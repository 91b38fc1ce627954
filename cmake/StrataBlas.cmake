# Finds a CBLAS and defines the imported target strata::blas.
# BLA_VENDOR / BLAS_LIBRARIES work as with CMake's FindBLAS; by default Debian's OpenMP OpenBLAS is preferred.
set(STRATA_BLAS_OPENMP_DIR "/usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp" CACHE PATH
    "Directory of an OpenMP-threaded OpenBLAS preferred over the system default")
find_library(STRATA_OPENBLAS_OPENMP NAMES openblas PATHS ${STRATA_BLAS_OPENMP_DIR} NO_DEFAULT_PATH)
if(STRATA_OPENBLAS_OPENMP AND NOT BLA_VENDOR AND NOT BLAS_LIBRARIES)
  set(STRATA_BLAS_LIBS ${STRATA_OPENBLAS_OPENMP})
  # The SONAME libopenblas.so.0 would resolve to the system alternative (often the pthread build):
  # keep the OpenMP build's directory in the run path of everything we build and install.
  list(APPEND CMAKE_BUILD_RPATH ${STRATA_BLAS_OPENMP_DIR})
  list(APPEND CMAKE_INSTALL_RPATH ${STRATA_BLAS_OPENMP_DIR})
  message(STATUS "CBLAS: OpenMP OpenBLAS ${STRATA_OPENBLAS_OPENMP}")
else()
  if(NOT BLA_VENDOR)
    set(BLA_VENDOR OpenBLAS)
  endif()
  find_package(BLAS REQUIRED)
  set(STRATA_BLAS_LIBS ${BLAS_LIBRARIES})
  message(STATUS "CBLAS: ${BLAS_LIBRARIES}")
endif()
find_path(STRATA_CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas openblas-openmp openblas-pthread)
if(NOT STRATA_CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "cblas.h not found: install a CBLAS (Debian: libopenblas-dev) or set STRATA_CBLAS_INCLUDE_DIR")
endif()
add_library(strata_blas INTERFACE)
add_library(strata::blas ALIAS strata_blas)
target_link_libraries(strata_blas INTERFACE ${STRATA_BLAS_LIBS})
target_include_directories(strata_blas INTERFACE ${STRATA_CBLAS_INCLUDE_DIR})
