// device_allocator.cuh — the caching device allocator of the CUDA backend: cudaMalloc only when no
// cached block fits, never cudaFree while the backend lives (blocks return to a free list), so a
// training step, which frees and allocates the same sizes every time, makes no allocation calls
// after the first step.
//
// Rules:
//  - Stream-ordered on the compute stream: a block freed on the host may still be read by kernels
//    already enqueued on the compute stream; it is reused only by work enqueued later on the same
//    stream, which runs after them. Memory used by another stream (the communication stream) must
//    be released only after that stream's work has been joined (Request::wait), as the
//    communicator interface already requires.
//  - Sizes round up to 512 bytes (blocks are 256-byte aligned, which cuBLASLt prefers); a request
//    takes the smallest cached block of at least its size and at most twice its size.
//  - When cudaMalloc fails, the cache is released (after a device synchronize) and the call retried
//    once; a second failure throws with the sizes involved.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>

namespace strata::cuda {

class DeviceAllocator {
 public:
  DeviceAllocator() = default;
  ~DeviceAllocator();  // frees every block (cached or still handed out)
  DeviceAllocator(const DeviceAllocator&) = delete;
  DeviceAllocator& operator=(const DeviceAllocator&) = delete;

  void* allocate(std::size_t bytes);
  void deallocate(void* ptr) noexcept;

  std::size_t reserved_bytes() const { return reserved_; }  // cudaMalloc'ed in total
  std::size_t malloc_calls() const { return malloc_calls_; }

 private:
  void release_cache();
  std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;          // size -> cached block
  std::unordered_map<void*, std::size_t> in_use_;   // block -> size
  std::size_t reserved_ = 0;
  std::size_t malloc_calls_ = 0;
};

}  // namespace strata::cuda

namespace strata::cuda {

// Scratch memory for one op: taken from the allocator and handed back when the op returns, which the
// stream-ordering rule above makes safe for kernels still running on the compute stream.
template <typename T>
class Scratch {
 public:
  Scratch(DeviceAllocator& alloc, std::size_t count)
      : alloc_(alloc), ptr_(static_cast<T*>(alloc.allocate(count * sizeof(T)))) {}
  ~Scratch() { alloc_.deallocate(ptr_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* get() const { return ptr_; }

 private:
  DeviceAllocator& alloc_;
  T* ptr_;
};

}  // namespace strata::cuda
