// pipeline_executor.h — runs a pipeline stage's action list (parallel/pipeline_schedule.h) on a
// GptModel stage: activations and their gradients (B*T*C floats per micro-batch) travel over the
// pipeline group, receives blocking and sends non-blocking, as the schedules assume.
//
// Micro-batch m lives in model slot m % slots() from its forward to its backward; the schedules keep the
// in-flight micro-batches consecutive, and the executor checks that a slot is free before reusing it.
// A forward send reads the slot's output activations in place, so the slot's next forward, and its
// backward (full recompute rewrites them), first wait for that send; a backward send copies the input
// gradient into the slot's send buffer, which its next backward send waits for.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "kernels/backend.h"
#include "parallel/communicator.h"
#include "parallel/pipeline_schedule.h"
#include "src/gpt_model.h"

namespace strata {

class PipelineExecutor {
 public:
  PipelineExecutor(Backend& backend, GptModel& model, Communicator& pipeline);

  // Fills the host arrays (B*T ids each) with micro-batch m's tokens and targets.
  using ReadMicroBatch = std::function<void(int m, int32_t* tokens, int32_t* targets)>;
  // Called right before the backward of micro-batch m (e.g. to hook the data-parallel reduction into
  // the last one).
  using BeforeBackward = std::function<void(int m)>;

  // Runs `actions` (with backwards: scaled by dloss, accumulating into the model's gradients). Returns
  // the summed loss of this stage's micro-batches: the last stage's sum, 0 on the other stages.
  double run(const std::vector<PipeAction>& actions, const ReadMicroBatch& read, float dloss,
             const BeforeBackward& before_backward = {});

 private:
  int slot_of(int m) const { return m % model_.slots(); }

  Backend& be_;
  GptModel& model_;
  Communicator& pipe_;
  std::vector<int> owner_;                  // [slot] micro-batch in flight there, -1 when free
  std::vector<Request> fwd_send_, bwd_send_;  // [slot] pending sends
  std::vector<DeviceBuffer<float>> bwd_buf_;  // [slot] (BT,C) input gradients being sent
  std::vector<int32_t> tokens_, targets_;
};

}  // namespace strata
