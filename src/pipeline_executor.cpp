// pipeline_executor.cpp — see pipeline_executor.h.
#include "src/pipeline_executor.h"

#include <algorithm>
#include <span>

#include "kernels/error.h"
#include "parallel/stream_sync.h"

namespace strata {

PipelineExecutor::PipelineExecutor(Backend& backend, GptModel& model, Communicator& pipeline)
    : be_(backend), model_(model), pipe_(pipeline), slots_(model.slots()) {
  const std::size_t bt = static_cast<std::size_t>(model_.micro_batch()) * model_.shape().seq_len;
  tokens_.resize(bt);
  targets_.resize(bt);
}

int PipelineExecutor::take_slot(int chunk, int m) {
  int pick = -1;
  for (int s = 0; s < static_cast<int>(slots_.size()); ++s) {
    if (slots_[s].chunk >= 0) continue;
    if (slots_[s].fwd_send.test()) {
      pick = s;
      break;
    }
    if (pick < 0) pick = s;
  }
  STRATA_CHECK(pick >= 0, internal, "pipeline: micro-batch ", m, " of chunk ", chunk, " finds all ", slots_.size(),
               " activation slots in use (the model has fewer slots than the schedule keeps in flight)");
  slots_[pick].fwd_send.wait();
  slots_[pick].chunk = chunk;
  slots_[pick].micro_batch = m;
  slot_of_[chunk][m] = pick;
  return pick;
}

PipelineExecutor::GradientSend& PipelineExecutor::free_gradient_send() {
  for (GradientSend& s : bwd_sends_)
    if (s.request.test()) return s;
  bwd_sends_.push_back({DeviceBuffer<float>(be_, model_.stage_activation_floats()), Request()});
  return bwd_sends_.back();
}

double PipelineExecutor::run(const std::vector<PipeAction>& actions, const ReadMicroBatch& read, float dloss,
                             const BeforeBackward& before_backward) {
  bool backward = false;
  int micro_batches = 0;
  for (const PipeAction& a : actions) {
    STRATA_CHECK(a.chunk >= 0 && a.chunk < model_.chunks() && a.micro_batch >= 0, internal, "pipeline: action ",
                 to_string(a), " on chunk ", a.chunk, " of a model with ", model_.chunks(), " chunks");
    backward = backward || a.op == PipeOp::backward;
    micro_batches = std::max(micro_batches, a.micro_batch + 1);
  }
  slot_of_.assign(model_.chunks(), std::vector<int>(micro_batches, -1));
  for (Slot& s : slots_) s.chunk = s.micro_batch = -1;
  const ModelPartition& part = model_.layout().partition();
  const std::size_t n = model_.stage_activation_floats();
  double loss = 0.0;
  for (const PipeAction& a : actions) {
    int& slot = slot_of_[a.chunk][a.micro_batch];
    const auto holds = [&] {
      return slot >= 0 && slots_[slot].chunk == a.chunk && slots_[slot].micro_batch == a.micro_batch;
    };
    switch (a.op) {
      case PipeOp::recv_forward:
        STRATA_CHECK(!holds(), internal, "pipeline: ", to_string(a), " for a micro-batch already in flight");
        take_slot(a.chunk, a.micro_batch);
        pipe_.irecv(std::span<float>(model_.stage_input(slot), n), a.peer, kActivationTag).wait();
        break;
      case PipeOp::forward: {
        const bool embeds = a.chunk == 0 && part.has_embedding;
        const bool has_loss = a.chunk == model_.chunks() - 1 && part.has_head;
        if (embeds) take_slot(a.chunk, a.micro_batch);
        STRATA_CHECK(holds(), internal, "pipeline: ", to_string(a), " without its input (no receive before it)");
        if (embeds || has_loss) read(a.micro_batch, tokens_.data(), targets_.data());
        loss += model_.forward_stage(a.chunk, slot, tokens_.data(), targets_.data(), backward, dloss);
        // Forward only: the activations are not needed any more; the slot stays this micro-batch's until
        // its send (next action) is issued, and the slot's next user waits for that send.
        if (!backward) slots_[slot].chunk = slots_[slot].micro_batch = -1;
        break;
      }
      case PipeOp::send_forward:
        STRATA_CHECK(slot >= 0, internal, "pipeline: ", to_string(a), " before its forward");
        sync_for(pipe_, be_);  // the stage output is written by queued ops
        slots_[slot].fwd_send =
            pipe_.isend(std::span<const float>(model_.stage_output(slot), n), a.peer, kActivationTag);
        break;
      case PipeOp::recv_backward:
        // The schedules put this right before its backward: the gradient goes straight where the
        // backward starts from.
        pipe_.irecv(std::span<float>(model_.output_grad(), n), a.peer, kGradientTag).wait();
        break;
      case PipeOp::backward:
        STRATA_CHECK(holds(), internal, "pipeline: ", to_string(a), " before its forward");
        slots_[slot].fwd_send.wait();
        if (before_backward) before_backward(a.chunk, a.micro_batch);
        model_.backward_stage(a.chunk, slot);
        slots_[slot].chunk = slots_[slot].micro_batch = -1;
        break;
      case PipeOp::send_backward: {
        GradientSend& send = free_gradient_send();
        be_.copy(send.buffer.data(), model_.input_grad(), n * sizeof(float));
        sync_for(pipe_, be_);
        send.request = pipe_.isend(std::span<const float>(send.buffer.data(), n), a.peer, kGradientTag);
        break;
      }
    }
  }
  for (Slot& s : slots_) s.fwd_send.wait();
  for (GradientSend& s : bwd_sends_) s.request.wait();
  return loss;
}

}  // namespace strata
