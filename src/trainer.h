// trainer.h — the training loop of one rank: micro-batch gradient accumulation, data-parallel gradient
// reduction overlapped with backward, global-norm clipping, fused AdamW (ZeRO 1-3 sharded when asked)
// with the learning-rate schedule, periodic evaluation, metrics. With tensor parallelism (groups with a
// tensor group of size T > 1) the model holds this rank's tensor slice; data parallelism and ZeRO then
// work on the local tensors of each tensor rank unchanged (each tensor rank has its own data group).
// With pipeline parallelism (pipeline group of size P > 1) the model is this rank's stage (layers/P
// blocks, in V = parallel.virtual_stages chunks of layers/(P*V) blocks; the embedding on the first stage,
// the head with its own wte copy on the last), a step runs the stage's 1F1B action list, interleaved when
// V > 1 (parallel/pipeline_schedule.h, src/pipeline_executor.h), the tied wte's
// gradients are summed over the embedding group (first + last stage) before the norm and the optimizer
// step, and the loss (computed on the last stage) is summed over the pipeline group so every rank
// reports it. Data parallelism and ZeRO work per stage: each stage's data group reduces its own tensors.
// ZeRO-3 (parallel/zero3_params.h, zero3_grads.h): the model holds no parameters and no gradients; the
// trainer keeps this rank's shards (the optimizer's master weights, the reduced gradient) and hands the
// model a parameter source that gathers each range from the data group when the forward or backward
// needs it, and a gradient sink that reduce-scatters each range's gradient after each backward.
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/backend.h"
#include "parallel/data_parallel.h"
#include "parallel/zero3_grads.h"
#include "parallel/zero3_params.h"
#include "parallel/groups.h"
#include "parallel/pipeline_schedule.h"
#include "src/batch_source.h"
#include "src/checkpoint.h"
#include "src/config.h"
#include "src/gpt_model.h"
#include "src/lr_schedule.h"
#include "src/metrics.h"
#include "src/pipeline_executor.h"

namespace strata {

class Trainer {
 public:
  // valid may be null (no evaluation). peak_flops: MFU denominator in FLOP/s (per rank). groups: the
  // rank's parallel groups (null: one rank); the sources must serve this rank's data-parallel slice.
  Trainer(const Config& cfg, Backend& backend, std::unique_ptr<BatchSource> train, std::unique_ptr<BatchSource> valid,
          double peak_flops, const ParallelGroups* groups = nullptr);

  // One optimizer step over a global batch; returns its metrics (val_loss unset).
  StepMetrics step();
  // Mean loss over train.eval_steps global batches from the start of the validation data.
  double evaluate();
  // Runs from the current step to train.steps, logging every train.log_interval steps and evaluating
  // every train.eval_interval steps (and at the end when validation data is configured).
  void run(MetricsLogger& logger);

  // Saves a checkpoint of the current state into checkpoint.dir now (collective: every rank calls it at
  // the same step; checkpoint.async decides whether it returns after the host copy). For signals.
  void save_checkpoint_now();
  // Waits for and commits a pending asynchronous save (collective).
  void wait_for_checkpoint();

  GptModel& model() { return model_; }
  int64_t steps_done() const { return step_; }
  int micro_batches() const { return micro_batches_; }
  // Adam moments held by this rank (both m and v; a 1/data share of the model's with ZeRO >= 1).
  std::size_t optimizer_state_floats() const { return adam_m_.size() + adam_v_.size(); }
  // Bytes this rank holds, by what for (reported at start-up). params: the whole partition, or with
  // ZeRO-3 its shard plus the gather buffers; grads: the model's accumulation buffer plus, with ZeRO 2,
  // the reduced gradient shard, or with ZeRO-3 the shard plus the gradient buffers; optimizer: Adam m
  // and v; activations: the model's.
  struct Memory {
    std::size_t params = 0, grads = 0, optimizer = 0, activations = 0;
  };
  Memory memory() const;
  // Range all-gathers of ZeRO-3 so far (0 otherwise).
  uint64_t parameter_gathers() const { return zero3_ ? zero3_->gathers() : 0; }

 private:
  // Squared global gradient norm over the whole model (all tensor slices and pipeline stages,
  // replicated tensors and the tied wte once); with ZeRO 2 and 3 from this rank's reduced gradient shards,
  // summed over the data group.
  double gradient_norm_squared();
  // Reads micro-batch m of global batch `batch` (this data rank's share) from `source`.
  void read_micro_batch(BatchSource& source, int64_t batch, int m, int32_t* tokens, int32_t* targets);
  bool pipelined() const { return pipeline_size_ > 1; }
  // checkpoint.load: restores parameters, Adam state, step, tokens and the loader position.
  void resume_from_checkpoint();

  Config cfg_;
  Backend& be_;
  std::unique_ptr<BatchSource> train_, valid_;
  GptModel model_;
  const ParallelGroups* groups_;
  std::unique_ptr<DataParallel> dp_;  // null on one rank
  int data_rank_ = 0, data_size_ = 1, tensor_size_ = 1, pipeline_size_ = 1;
  std::unique_ptr<PipelineExecutor> pipe_;  // null without pipeline parallelism
  std::vector<PipeAction> train_actions_, eval_actions_;
  struct GradRange {
    std::size_t offset, count;
  };
  std::vector<GradRange> replicated_, sharded_;  // tensor-parallel runs: tensors split over the group or not
  enum class NormKind : unsigned char { skip, replicated, sharded };
  std::vector<NormKind> norm_kind_;  // per layout tensor, the same rules (ZeRO 2 and 3 sum per shard)
  // ZeRO 2 and 3: the reduced gradient exists only as this rank's shard (grad_shard_).
  bool sharded_grads() const { return dp_ != nullptr && dp_->zero_stage() >= 2; }
  std::unique_ptr<Zero3Params> zero3_;  // ZeRO-3 with data > 1: the parameters' shard and gather buffers
  std::unique_ptr<Zero3Grads> zero3_grads_;  // and the gradient buffers reduce-scattered into grad_shard_
  std::vector<ParamSegment> segments_;  // this rank's AdamW segments (its ZeRO shards)
  DeviceBuffer<float> adam_m_, adam_v_, norm_;
  DeviceBuffer<float> grad_shard_;  // ZeRO-2/3: this rank's reduced gradient shards, laid out like adam_m_
  LrSchedule schedule_;
  double peak_flops_;
  double flops_per_token_;
  int micro_batches_;
  int64_t step_ = 0;
  int64_t tokens_ = 0;
  std::vector<int32_t> inputs_, targets_;
  std::unique_ptr<Checkpointer> ckpt_;  // null without checkpoint.dir and checkpoint.load
};

}  // namespace strata
