// activation_buffer.h — an activation tensor kept in the model's storage precision: fp32, or bf16 under
// train.precision=bf16 (the activations that only feed GEMMs and the attention; kernels/backend.h, "bf16"),
// and a view of one that the model's precision-dispatching helpers take.
#pragma once

#include <cstddef>

#include "kernels/backend.h"

namespace strata {

// A view of an activation: exactly one of f (fp32) and h (bf16) is set; both null for an empty view.
struct ActRef {
  float* f = nullptr;
  bf16* h = nullptr;
  // The view `elements` further on (in elements of its own type).
  ActRef at(std::size_t elements) const { return {f ? f + elements : nullptr, h ? h + elements : nullptr}; }
};

class ActBuffer {
 public:
  ActBuffer() = default;
  ActBuffer(Backend& be, std::size_t count, bool in_bf16) {
    if (in_bf16)
      h_ = DeviceBuffer<bf16>(be, count);
    else
      f_ = DeviceBuffer<float>(be, count);
  }
  ActRef ref() { return {f_.data(), h_.data()}; }
  std::size_t bytes() const { return f_.bytes() + h_.bytes(); }

 private:
  DeviceBuffer<float> f_;
  DeviceBuffer<bf16> h_;
};

}  // namespace strata
