// pipeline_executor.h — runs a pipeline rank's action list (parallel/pipeline_schedule.h) on a GptModel
// holding one or more model chunks: activations and their gradients (B*T*C floats per micro-batch)
// travel over the pipeline group, receives blocking and sends non-blocking, as the schedules assume;
// activations on kActivationTag, gradients on kGradientTag (with two ranks both go both ways).
//
// A (chunk, micro-batch) takes a free model activation slot at its receive (or first forward) and holds
// it until its backward; the model has as many slots as the schedule's peak in-flight count, and the
// executor checks that one is free. A forward send reads the slot's output activations in place, so the
// slot's backward (full recompute rewrites them) and its next user first wait for that send: in training
// the receiver has the message by then (the backward's own received gradient proves it); in a
// forward-only list a slot is free again right after its send, and the next user's wait cannot
// deadlock (pipeline_schedule.h). A backward send copies the input gradient into a send buffer taken
// from a pool that grows when every buffer is still in flight, so the executor never waits for a
// gradient send before the end of the step.
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
  // Called right before the backward of micro-batch m on model chunk `chunk` (e.g. to hook the
  // data-parallel reduction into each chunk's last one).
  using BeforeBackward = std::function<void(int chunk, int m)>;

  // Runs `actions` (with backwards: scaled by dloss, accumulating into the model's gradients). Returns
  // the summed loss of this rank's micro-batches: the loss chunk's sum on the last stage, 0 elsewhere.
  double run(const std::vector<PipeAction>& actions, const ReadMicroBatch& read, float dloss,
             const BeforeBackward& before_backward = {});

 private:
  struct Slot {
    int chunk = -1, micro_batch = -1;  // the chunk-micro-batch holding the slot; -1: free
    Request fwd_send;                  // pending send of the slot's output activations
  };
  struct GradientSend {
    DeviceBuffer<float> buffer;  // (BT,C) input gradient being sent
    Request request;
  };
  // A free slot for micro-batch m of `chunk` (preferring one whose last send is done; waits for it).
  int take_slot(int chunk, int m);
  // A gradient send buffer whose last send is done (a new one when all are in flight).
  GradientSend& free_gradient_send();

  Backend& be_;
  GptModel& model_;
  Communicator& pipe_;
  std::vector<Slot> slots_;
  std::vector<std::vector<int>> slot_of_;  // [chunk][micro-batch] slot in use (or last used), -1 none
  std::vector<GradientSend> bwd_sends_;
  std::vector<int32_t> tokens_, targets_;
};

}  // namespace strata
