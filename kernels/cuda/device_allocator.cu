// device_allocator.cu — the caching device allocator (see device_allocator.cuh).
#include <cstdio>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/device_allocator.cuh"

namespace strata::cuda {

namespace {
constexpr std::size_t kGranule = 512;
std::size_t round_up(std::size_t bytes) { return (bytes + kGranule - 1) / kGranule * kGranule; }
}  // namespace

DeviceAllocator::~DeviceAllocator() {
  // The backend synchronizes its streams before destroying the allocator.
  for (auto& [size, ptr] : free_) cudaFree(ptr);
  for (auto& [ptr, size] : in_use_) cudaFree(ptr);
}

void* DeviceAllocator::allocate(std::size_t bytes) {
  const std::size_t size = round_up(bytes == 0 ? 1 : bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = free_.lower_bound(size);
  if (it != free_.end() && it->first <= 2 * size) {
    void* ptr = it->second;
    in_use_.emplace(ptr, it->first);
    free_.erase(it);
    return ptr;
  }
  void* ptr = nullptr;
  cudaError_t rc = cudaMalloc(&ptr, size);
  if (rc != cudaSuccess) {
    cudaGetLastError();  // clear the out-of-memory error before retrying
    release_cache();
    rc = cudaMalloc(&ptr, size);
  }
  if (rc != cudaSuccess) {
    cudaGetLastError();
    STRATA_THROW(internal, "cuda backend: cudaMalloc of ", size, " bytes failed (", cudaGetErrorString(rc), ") with ",
                 reserved_, " bytes already reserved by this backend; reduce train.micro_batch or the model size");
  }
  ++malloc_calls_;
  reserved_ += size;
  in_use_.emplace(ptr, size);
  return ptr;
}

void DeviceAllocator::deallocate(void* ptr) noexcept {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = in_use_.find(ptr);
  if (it == in_use_.end()) {
    std::fprintf(stderr, "strata: cuda backend: deallocate of %p, which this backend did not allocate\n", ptr);
    return;
  }
  free_.emplace(it->second, ptr);
  in_use_.erase(it);
}

void DeviceAllocator::release_cache() {
  // Cached blocks may still be read by enqueued kernels: wait for the device before freeing them.
  CUDA_CHECK(cudaDeviceSynchronize());
  for (auto& [size, ptr] : free_) {
    CUDA_CHECK(cudaFree(ptr));
    reserved_ -= size;
  }
  free_.clear();
}

}  // namespace strata::cuda
