// pipeline_executor.cpp — see pipeline_executor.h.
#include "src/pipeline_executor.h"

#include <span>

#include "kernels/error.h"

namespace strata {

PipelineExecutor::PipelineExecutor(Backend& backend, GptModel& model, Communicator& pipeline)
    : be_(backend), model_(model), pipe_(pipeline) {
  const int slots = model_.slots();
  owner_.assign(slots, -1);
  fwd_send_.resize(slots);
  bwd_send_.resize(slots);
  const bool sends_backward = !model_.layout().partition().has_embedding;
  for (int s = 0; s < slots; ++s)
    bwd_buf_.emplace_back(be_, sends_backward ? model_.stage_activation_floats() : 0);
  const std::size_t bt = static_cast<std::size_t>(model_.micro_batch()) * model_.shape().seq_len;
  tokens_.resize(bt);
  targets_.resize(bt);
}

double PipelineExecutor::run(const std::vector<PipeAction>& actions, const ReadMicroBatch& read, float dloss,
                             const BeforeBackward& before_backward) {
  bool backward = false;
  for (const PipeAction& a : actions) backward = backward || a.op == PipeOp::backward;
  const ModelPartition& part = model_.layout().partition();
  const std::size_t n = model_.stage_activation_floats();
  double loss = 0.0;
  for (const PipeAction& a : actions) {
    const int slot = slot_of(a.micro_batch);
    switch (a.op) {
      case PipeOp::recv_forward:
      case PipeOp::forward: {
        if (a.op == PipeOp::recv_forward || part.has_embedding) {
          // The slot's activations are about to be overwritten: it must be free, its last send done.
          STRATA_CHECK(owner_[slot] < 0 || owner_[slot] == a.micro_batch, internal, "pipeline: micro-batch ",
                       a.micro_batch, " needs slot ", slot, ", still held by micro-batch ", owner_[slot]);
          fwd_send_[slot].wait();
        }
        if (a.op == PipeOp::recv_forward) {
          owner_[slot] = a.micro_batch;
          pipe_.irecv(std::span<float>(model_.stage_input(slot), n), a.peer).wait();
          break;
        }
        owner_[slot] = a.micro_batch;
        if (part.has_embedding || part.has_head) read(a.micro_batch, tokens_.data(), targets_.data());
        loss += model_.forward_stage(slot, tokens_.data(), targets_.data(), backward, dloss);
        if (!backward) owner_[slot] = -1;
        break;
      }
      case PipeOp::send_forward:
        be_.synchronize();
        fwd_send_[slot] = pipe_.isend(std::span<const float>(model_.stage_output(slot), n), a.peer);
        break;
      case PipeOp::recv_backward:
        // The schedules put this right before its backward: the gradient goes straight where the
        // backward starts from.
        pipe_.irecv(std::span<float>(model_.output_grad(), n), a.peer).wait();
        break;
      case PipeOp::backward:
        STRATA_CHECK(owner_[slot] == a.micro_batch, internal, "pipeline: backward of micro-batch ", a.micro_batch,
                     " before its forward (slot ", slot, " holds ", owner_[slot], ")");
        fwd_send_[slot].wait();
        if (before_backward) before_backward(a.micro_batch);
        model_.backward_stage(slot);
        owner_[slot] = -1;
        break;
      case PipeOp::send_backward:
        bwd_send_[slot].wait();
        be_.copy(bwd_buf_[slot].data(), model_.input_grad(), n * sizeof(float));
        be_.synchronize();
        bwd_send_[slot] = pipe_.isend(std::span<const float>(bwd_buf_[slot].data(), n), a.peer);
        break;
    }
  }
  for (Request& r : fwd_send_) r.wait();
  for (Request& r : bwd_send_) r.wait();
  return loss;
}

}  // namespace strata
