// matmul.cu — cuBLASLt GEMMs of the linear layer, fp32 and bf16 (see matmul.cuh).
#include <algorithm>
#include <memory>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/matmul.cuh"
#include "kernels/cuda/pointwise.cuh"
#include "kernels/cuda/reduce.cuh"

namespace strata::cuda {
namespace {

constexpr std::size_t kWorkspaceBytes = 32u << 20;  // cuBLASLt's recommendation for Hopper

// Largest power of two (at most 256) dividing the address, at least the element size: what cuBLASLt
// may assume about a pointer.
std::uint32_t alignment_of(const void* p, std::uint32_t element_bytes) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t align = 256;
  while (align > element_bytes && a % align != 0) align /= 2;
  return align;
}

// Bytes of one element of a D matrix (fp32 or bf16).
std::uint32_t element_bytes(cudaDataType_t type) { return type == CUDA_R_16BF ? 2 : 4; }

// RAII wrappers so that an exception between create and destroy leaks nothing.
struct Desc {
  cublasLtMatmulDesc_t h = nullptr;
  ~Desc() { if (h) cublasLtMatmulDescDestroy(h); }
};
struct Layout {
  cublasLtMatrixLayout_t h = nullptr;
  ~Layout() { if (h) cublasLtMatrixLayoutDestroy(h); }
};
struct Pref {
  cublasLtMatmulPreference_t h = nullptr;
  ~Pref() { if (h) cublasLtMatmulPreferenceDestroy(h); }
};

// out(rows, cols) row-major += bias(cols) per row: the fallback when no algorithm takes the epilogue.
__global__ void add_bias_kernel(float* out, const float* bias, int rows, int cols) {
  const std::size_t idx = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x;
  if (idx < std::size_t(rows) * cols) out[idx] += bias[idx % cols];
}

}  // namespace

Matmul::Matmul(cudaStream_t stream, bool allow_tf32, DeviceAllocator& alloc)
    : stream_(stream), alloc_(alloc), compute_(allow_tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F) {
  CUBLAS_CHECK(cublasLtCreate(&handle_));
  workspace_bytes_ = kWorkspaceBytes;
  workspace_ = alloc_.allocate(workspace_bytes_);
}

Matmul::~Matmul() {
  alloc_.deallocate(workspace_);
  if (handle_) cublasLtDestroy(handle_);
}

bool Matmul::try_gemm(Operands ops, bool trans_a, bool trans_b, int m, int n, int k, const void* a, int lda,
                      const void* b, int ldb, Output out, float beta, const Epilogue& epilogue) {
  const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const float* bias = epilogue.bias;
  Desc desc;
  CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc.h, ops.compute, CUDA_R_32F));  // fp32 alpha and beta
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.h, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)));
  CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.h, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)));
  cublasLtEpilogue_t mode = bias != nullptr ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
  if (epilogue.gelu == Gelu::forward) mode = bias != nullptr ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_GELU_AUX;
  if (mode != CUBLASLT_EPILOGUE_DEFAULT)
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.h, CUBLASLT_MATMUL_DESC_EPILOGUE, &mode, sizeof(mode)));
  if (bias != nullptr)
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.h, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)));
  if (bias != nullptr && out.type != CUDA_R_32F) {
    // Our bias is fp32 whatever D is, but cuBLASLt's default bias type is D's: with a bf16 D it is set, and
    // the fp32 bias is added to the fp32 sum before the one rounding.
    const std::int32_t bias_type = CUDA_R_32F;
    CUBLAS_CHECK(
        cublasLtMatmulDescSetAttribute(desc.h, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type)));
  }
  if (epilogue.gelu == Gelu::forward) {  // aux (the GELU input, written): D's type (cuBLASLt's default)
    const void* aux = epilogue.aux;
    const std::int64_t aux_ld = epilogue.aux_ld;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.h, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof(aux)));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc.h, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &aux_ld, sizeof(aux_ld)));
  }
  // Stored shapes (before op): A is (trans_a ? k x m : m x k), B is (trans_b ? n x k : k x n); C is D.
  Layout la, lb, ld;
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la.h, ops.type, trans_a ? k : m, trans_a ? m : k, lda));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb.h, ops.type, trans_b ? n : k, trans_b ? k : n, ldb));
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ld.h, out.type, m, n, out.ld));

  const std::uint32_t d_bytes = element_bytes(out.type);
  const std::uint32_t align_a = alignment_of(a, ops.element_bytes), align_b = alignment_of(b, ops.element_bytes);
  const std::uint32_t align_d = alignment_of(out.d, d_bytes);
  const int align_key = static_cast<int>(align_a | (align_b << 9) | (align_d << 18));
  const int aux_align = epilogue.gelu == Gelu::none ? 0 : static_cast<int>(alignment_of(epilogue.aux, d_bytes));
  const Key key{static_cast<int>(ops.type), static_cast<int>(out.type), trans_a, trans_b, m, n, k, lda, ldb, out.ld,
                beta != 0.0f, bias != nullptr, align_key, static_cast<int>(epilogue.gelu), aux_align};
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    Pref pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref.h));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.h, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                      &workspace_bytes_, sizeof(workspace_bytes_)));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.h, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a,
                                                      sizeof(align_a)));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.h, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b,
                                                      sizeof(align_b)));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.h, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d,
                                                      sizeof(align_d)));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref.h, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d,
                                                      sizeof(align_d)));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t rc =
        cublasLtMatmulAlgoGetHeuristic(handle_, desc.h, la.h, lb.h, ld.h, ld.h, pref.h, 1, &result, &found);
    Plan plan;
    plan.found = rc == CUBLAS_STATUS_SUCCESS && found > 0 && result.state == CUBLAS_STATUS_SUCCESS;
    if (plan.found) plan.algo = result.algo;
    it = plans_.emplace(key, plan).first;
  }
  Plan& plan = it->second;
  if (!plan.found) return false;
  const float alpha = 1.0f;
  const cublasStatus_t rc = cublasLtMatmul(handle_, desc.h, &alpha, a, la.h, b, lb.h, &beta, out.d, ld.h, out.d, ld.h,
                                           &plan.algo, workspace_, workspace_bytes_, stream_);
  // A type combination the heuristic let through but cublasLtMatmul refuses (cuBLASLt documents this for
  // some bias and aux types) is refused before anything runs: recorded as no algorithm, so the caller's
  // fallback takes it from now on. Once a plan has run, every failure is an error.
  if (!plan.ran && (rc == CUBLAS_STATUS_NOT_SUPPORTED || rc == CUBLAS_STATUS_INVALID_VALUE)) {
    plan.found = false;
    return false;
  }
  if (rc != CUBLAS_STATUS_SUCCESS)
    STRATA_THROW(internal, "cublasLtMatmul failed: cuBLAS status ", static_cast<int>(rc), " (",
                 cublasGetStatusString(rc), ") for m=", m, " n=", n, " k=", k);
  plan.ran = true;
  return true;
}

void Matmul::gemm(Operands ops, bool trans_a, bool trans_b, int m, int n, int k, const void* a, int lda,
                  const void* b, int ldb, float* d, int ldd, float beta, const float* bias) {
  const Output out{d, CUDA_R_32F, ldd};
  if (try_gemm(ops, trans_a, trans_b, m, n, k, a, lda, b, ldb, out, beta, Epilogue{bias})) return;
  // No algorithm takes the bias epilogue for this shape/alignment: plain GEMM, then the bias.
  STRATA_CHECK(bias != nullptr && try_gemm(ops, trans_a, trans_b, m, n, k, a, lda, b, ldb, out, beta, Epilogue{}),
               internal, "cuBLASLt found no algorithm for the ", ops.type == CUDA_R_16BF ? "bf16" : "fp32",
               " GEMM m=", m, " n=", n, " k=", k, " (trans_a ", trans_a, ", trans_b ", trans_b, ", lda ", lda,
               ", ldb ", ldb, ", ldd ", ldd, ")");
  STRATA_CHECK(ldd == m, internal, "cuda matmul: bias fallback needs a packed output");
  add_bias_kernel<<<blocks_for(std::size_t(m) * n, 256), 256, 0, stream_>>>(d, bias, n, m);
  CUDA_CHECK_LAUNCH();
}

bool Matmul::forward_degenerate(float* out, const float* bias, int n, int c, int oc) {
  if (n <= 0 || oc <= 0) return true;
  if (c > 0) return false;
  // Empty reduction: out = bias (or 0).
  CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(float) * std::size_t(n) * oc, stream_));
  if (bias != nullptr) {
    add_bias_kernel<<<blocks_for(std::size_t(n) * oc, 256), 256, 0, stream_>>>(out, bias, n, oc);
    CUDA_CHECK_LAUNCH();
  }
  return true;
}

bool Matmul::backward_degenerate(float* dinp, int n, int c, int oc) {
  if (n <= 0 || c <= 0) return true;
  if (oc > 0) return false;
  if (dinp != nullptr) CUDA_CHECK(cudaMemsetAsync(dinp, 0, sizeof(float) * std::size_t(n) * c, stream_));
  return true;
}

void Matmul::forward(float* out, const float* inp, const float* w, const float* bias, int n, int c, int oc) {
  if (forward_degenerate(out, bias, n, c, oc)) return;
  gemm(fp32(), true, false, oc, n, c, w, c, inp, c, out, oc, 0.0f, bias);
}

void Matmul::backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const float* w,
                      int n, int c, int oc) {
  if (backward_degenerate(dinp, n, c, oc)) return;
  if (dinp != nullptr) gemm(fp32(), false, false, c, n, oc, w, c, dout, oc, dinp, c, 0.0f, nullptr);
  gemm(fp32(), false, true, c, oc, n, inp, c, dout, oc, dw, c, 1.0f, nullptr);
  if (dbias != nullptr) column_sum_accumulate(dbias, MatrixTerm{dout, oc}, n, oc, alloc_, stream_);
}

void Matmul::forward_bf16(float* out, const bf16* inp, const bf16* w, const float* bias, int n, int c, int oc) {
  if (forward_degenerate(out, bias, n, c, oc)) return;
  gemm(bf16_operands(), true, false, oc, n, c, w, c, inp, c, out, oc, 0.0f, bias);
}

void Matmul::forward_bf16(bf16* out, const bf16* inp, const bf16* w, const float* bias, int n, int c, int oc) {
  if (n <= 0 || oc <= 0) return;
  if (c > 0 && try_gemm(bf16_operands(), true, false, oc, n, c, w, c, inp, c, Output{out, CUDA_R_16BF, oc}, 0.0f,
                        Epilogue{bias}))
    return;
  // Fallback: the fp32 result, bias included, in scratch; then rounded once.
  Scratch<float> out32(alloc_, std::size_t(n) * oc);
  forward_bf16(out32.get(), inp, w, bias, n, c, oc);
  to_bf16(out, out32.get(), std::size_t(n) * oc, stream_);
}

void Matmul::backward_bf16(float* dinp, float* dw, float* dbias, const float* dout, const bf16* inp, const bf16* w,
                           int n, int c, int oc) {
  if (backward_degenerate(dinp, n, c, oc)) return;
  Scratch<bf16> dout16(alloc_, std::size_t(n) * oc);
  to_bf16(dout16.get(), dout, std::size_t(n) * oc, stream_);
  if (dinp != nullptr) gemm(bf16_operands(), false, false, c, n, oc, w, c, dout16.get(), oc, dinp, c, 0.0f, nullptr);
  gemm(bf16_operands(), false, true, c, oc, n, inp, c, dout16.get(), oc, dw, c, 1.0f, nullptr);
  if (dbias != nullptr) column_sum_accumulate(dbias, MatrixTerm{dout, oc}, n, oc, alloc_, stream_);  // fp32 dout
}

void Matmul::gelu_forward_bf16(bf16* out, bf16* pre, const bf16* inp, const bf16* w, const float* bias, int n, int c,
                               int oc) {
  if (n <= 0 || oc <= 0) return;
  if (c > 0 && oc % 8 == 0 &&
      try_gemm(bf16_operands(), true, false, oc, n, c, w, c, inp, c, Output{out, CUDA_R_16BF, oc}, 0.0f,
               Epilogue{bias, Gelu::forward, pre, oc}))
    return;
  // Fallback: p = inp w^T + bias in fp32 scratch, then out = bf16(gelu(p)) and pre = bf16(p) in one kernel.
  Scratch<float> p(alloc_, std::size_t(n) * oc);
  forward_bf16(p.get(), inp, w, bias, n, c, oc);
  gelu_forward(out, pre, p.get(), std::size_t(n) * oc, stream_);
}

}  // namespace strata::cuda
