// trainer.cpp — see trainer.h.
#include "src/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <span>

#include "io/sample_order.h"
#include "kernels/error.h"
#include "parallel/stream_sync.h"
#include "src/param_init.h"

namespace strata {
namespace {

// This rank's slice of the model: the whole model, or its pipeline stage's blocks (an even split, in
// parallel.virtual_stages chunks) and its tensor-parallel slice of them.
ModelPartition model_partition(const Config& cfg, const ParallelGroups* groups) {
  ModelPartition part;
  if (groups != nullptr) {
    part = pipeline_partition(cfg.model.layers, groups->pipeline().size(), groups->pipeline().rank(),
                              groups->pipeline().size() > 1 ? cfg.parallel.virtual_stages : 1);
    part.tensor_rank = groups->tensor().rank();
    part.tensor_size = groups->tensor().size();
  }
  return part;
}

int micro_batches_of(const Config& cfg, const ParallelGroups* groups) {
  const int data = groups != nullptr ? groups->data().size() : 1;
  return cfg.train.global_batch / (cfg.train.micro_batch * data);
}

// The training step's action list of this pipeline rank (1F1B, or interleaved with virtual stages).
std::vector<PipeAction> train_schedule(const Config& cfg, const ParallelGroups& groups) {
  return pipeline_train_schedule(groups.pipeline().size(), groups.pipeline().rank(), micro_batches_of(cfg, &groups),
                                 cfg.parallel.virtual_stages);
}

// Activation slots of this rank: the peak number of chunk-micro-batches in flight in its training
// schedule (so the model holds exactly what the schedule keeps in flight).
int activation_slots(const Config& cfg, const ParallelGroups* groups) {
  if (groups == nullptr || groups->pipeline().size() == 1) return 1;
  return pipeline_peak_in_flight(train_schedule(cfg, *groups));
}

Communicator* tensor_group(const ParallelGroups* groups) {
  return groups != nullptr && groups->tensor().size() > 1 ? &groups->tensor() : nullptr;
}

// Test hook (tests/e2e/lone_failure.sh, docs/jobs.md): STRATA_TEST_FAIL_RANK=R with STRATA_TEST_FAIL_STEP=S
// makes world rank R alone throw a data error as it starts step S (1-based: micro_batch -1), or with
// STRATA_TEST_FAIL_MICRO_BATCH=M as well, as it reads micro-batch M of step S's training data (mid-step,
// with communication of earlier micro-batches possibly in flight; middle pipeline stages read nothing) —
// as a shard that only it reads going bad would. The other ranks go on into the step's communication.
void fail_if_test_asks(const ParallelGroups* groups, int64_t step, int micro_batch) {
  const char* rank = std::getenv("STRATA_TEST_FAIL_RANK");
  const char* at = std::getenv("STRATA_TEST_FAIL_STEP");
  const char* mb = std::getenv("STRATA_TEST_FAIL_MICRO_BATCH");
  const int me = groups != nullptr ? groups->topology().rank() : 0;
  if (rank == nullptr || at == nullptr || std::atoi(rank) != me || std::atoll(at) != step) return;
  if ((mb == nullptr ? -1 : std::atoi(mb)) != micro_batch) return;
  if (micro_batch < 0)
    STRATA_THROW(data, "STRATA_TEST_FAIL_RANK=", me, " STRATA_TEST_FAIL_STEP=", step, ": rank ", me,
                 " fails alone at step ", step, " (test hook)");
  STRATA_THROW(data, "STRATA_TEST_FAIL_RANK=", me, " STRATA_TEST_FAIL_STEP=", step, " STRATA_TEST_FAIL_MICRO_BATCH=",
               micro_batch, ": rank ", me, " fails alone reading micro-batch ", micro_batch, " of step ", step,
               " (test hook)");
}

}  // namespace

Trainer::Trainer(const Config& cfg, Backend& backend, std::unique_ptr<BatchSource> train,
                 std::unique_ptr<BatchSource> valid, double peak_flops, const ParallelGroups* groups)
    : cfg_(cfg),
      be_(backend),
      train_(std::move(train)),
      valid_(std::move(valid)),
      model_(backend, cfg.shape(), model_partition(cfg, groups), cfg.train.micro_batch,
             parse_recompute(cfg.train.recompute), tensor_group(groups), activation_slots(cfg, groups),
             cfg.parallel.sequence_parallel, parse_precision(cfg.train.precision)),
      groups_(groups),
      peak_flops_(peak_flops),
      flops_per_token_(gpt_flops_per_token(cfg.shape())) {
  std::size_t state_size = model_.num_params();
  segments_ = model_.layout().segments();
  if (groups_ != nullptr && groups_->data().size() > 1) {
    data_rank_ = groups_->data().rank();
    data_size_ = groups_->data().size();
    std::vector<ShardTensor> tensors;
    std::vector<bool> decay;
    for (const ParamTensor& t : model_.layout().tensors()) {
      const std::size_t rows = static_cast<std::size_t>(t.shape[0]);
      tensors.push_back({t.offset, rows, t.count / rows});
      decay.push_back(t.weight_decay);
    }
    dp_ = std::make_unique<DataParallel>(groups_->data(), std::move(tensors), std::move(decay),
                                         cfg_.parallel.zero_stage);
    segments_ = dp_->segments();
    state_size = dp_->state_size();
    if (cfg_.parallel.zero_stage == 3) {
      // Gather pools: the embedding, the blocks (double-buffered), the head (ParamLayout::range order).
      const ParamLayout& layout = model_.layout();
      std::vector<Zero3Range> ranges;
      for (int i = 0; i < layout.num_ranges(); ++i)
        ranges.push_back({layout.range(i).offset, layout.range(i).count, i == 0 ? 0 : i == layout.num_ranges() - 1 ? 2 : 1});
      zero3_ = std::make_unique<Zero3Params>(be_, groups_->data(), dp_->partition(), ranges);
      model_.set_param_source({[this](int range, int next) { return zero3_->acquire(range, next); },
                               [this](int range) { zero3_->release(range); }});
      grad_shard_ = DeviceBuffer<float>(be_, std::max<std::size_t>(state_size, 1));
      zero3_grads_ = std::make_unique<Zero3Grads>(be_, groups_->data(), dp_->partition(), std::move(ranges),
                                                  grad_shard_.data());
      model_.set_grad_sink({[this](int range) { return zero3_grads_->acquire(range); },
                            [this](int range) { zero3_grads_->release(range); }});
    }
  }
  tensor_size_ = model_.layout().partition().tensor_size;
  micro_batches_ = micro_batches_of(cfg, groups);
  if (groups_ != nullptr && groups_->pipeline().size() > 1) {
    pipeline_size_ = groups_->pipeline().size();
    const int stage = groups_->pipeline().rank();
    train_actions_ = train_schedule(cfg_, *groups_);
    eval_actions_ = pipeline_forward_schedule(pipeline_size_, stage, micro_batches_, cfg_.parallel.virtual_stages);
    pipe_ = std::make_unique<PipelineExecutor>(be_, model_, groups_->pipeline());
  }
  if (tensor_size_ > 1 || pipelined()) {
    // Global norm: tensor-sharded parameters are summed over the tensor group, replicated ones (identical
    // on every tensor rank) are counted once; stages add up over the pipeline group, where the last
    // stage's copy of the tied wte is left out (it equals the first stage's after the embedding
    // all-reduce). One partial sum of squares per tensor, sorted by kind.
    const bool last_stage_wte = pipelined() && !model_.layout().partition().has_embedding;
    for (const ParamTensor& t : model_.layout().tensors()) {
      if (last_stage_wte && t.kind == ParamKind::wte) {
        norm_kind_.push_back(NormKind::skip);
        continue;
      }
      const bool replicated = t.split == ParamTensor::Split::none;
      (replicated ? replicated_ : sharded_).push_back({t.offset, t.count});
      norm_kind_.push_back(replicated ? NormKind::replicated : NormKind::sharded);
    }
  } else {
    norm_kind_.assign(model_.layout().tensors().size(), NormKind::replicated);
  }
  norm_ = DeviceBuffer<float>(be_, std::max<std::size_t>(model_.layout().tensors().size(), 1));
  if (sharded_grads() && !zero3_grads_) grad_shard_ = DeviceBuffer<float>(be_, std::max<std::size_t>(state_size, 1));
  std::vector<float> host;
  init_parameters(host, model_.layout(), cfg_.shape(), cfg_.train.seed);
  if (zero3_)
    zero3_->load_shard(host);
  else
    model_.set_parameters(host);
  adam_m_ = DeviceBuffer<float>(be_, state_size);
  adam_v_ = DeviceBuffer<float>(be_, state_size);
  adam_m_.zero();
  adam_v_.zero();
  schedule_ = LrSchedule{cfg_.optim.lr, cfg_.optim.min_lr, cfg_.optim.warmup_steps, cfg_.train.steps, cfg_.optim.decay};
  const std::size_t bt = static_cast<std::size_t>(cfg_.train.micro_batch) * cfg_.model.seq_len;
  inputs_.resize(bt);
  targets_.resize(bt);
  if (!cfg_.checkpoint.dir.empty() || !cfg_.checkpoint.load.empty()) {
    ckpt_ = std::make_unique<Checkpointer>(cfg_, be_, model_.layout(), groups_);
    resume_from_checkpoint();
  }
}

void Trainer::resume_from_checkpoint() {
  TrainPosition pos;
  // ZeRO-3 keeps only this rank's parameter shard (laid out like the Adam state); the checkpointer knows.
  if (!ckpt_->load_configured(zero3_ ? zero3_->shard() : model_.params(), adam_m_.data(), adam_v_.data(), &pos))
    return;
  if (zero3_) zero3_->invalidate();
  model_.refresh_working_weights();
  const uint64_t g = static_cast<uint64_t>(cfg_.train.global_batch);
  STRATA_CHECK(pos.loader_next_sample == static_cast<uint64_t>(pos.step) * g, config, "train.global_batch = ", g,
               ": the checkpoint of step ", pos.step, " continues at sample ", pos.loader_next_sample,
               ", which is not step * train.global_batch (resume with the global batch it was saved with)");
  step_ = pos.step;
  tokens_ = pos.tokens;
  train_->seek(LoaderState{pos.loader_next_sample});
}

void Trainer::save_checkpoint_now() {
  STRATA_CHECK(ckpt_ != nullptr, config, "checkpoint.dir: no checkpoint directory to save into");
  const std::optional<LoaderState> loader = train_->state();
  const uint64_t next = loader ? loader->next_sample : static_cast<uint64_t>(step_) * cfg_.train.global_batch;
  ckpt_->save(zero3_ ? zero3_->shard() : model_.params(), adam_m_.data(), adam_v_.data(), TrainPosition{step_, tokens_, next},
              cfg_.checkpoint.async);
}

void Trainer::wait_for_checkpoint() {
  if (ckpt_) ckpt_->wait();
}

StepMetrics Trainer::step() {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const int t = cfg_.model.seq_len;
  const int64_t g = cfg_.train.global_batch;
  const double tokens_per_step = static_cast<double>(g) * t;
  // Mean cross-entropy over every token of the global batch: each micro-batch's gradient is scaled so
  // that the accumulated sum is the gradient of that mean.
  const float dloss = static_cast<float>(1.0 / tokens_per_step);
  if (groups_) groups_->reset_stats();
  model_.zero_grads();
  if (zero3_grads_) grad_shard_.zero();  // the micro-batches' reduced gradients add up here
  double loss_sum = 0.0;
  // The last micro-batch's backward (of each model chunk) hands each finished layer's gradients to the
  // data-parallel reduction, which then runs while the layers below are still in backward.
  auto hook_last = [this](int /*chunk*/, int m) {
    if (!dp_ || zero3_grads_) return;  // ZeRO-3: every backward hands its gradients to the sink
    if (m == micro_batches_ - 1)
      model_.set_grads_ready([this](const ParamLayout::Range& r) {
        dp_->reduce_async(model_.grads(), r.offset, r.count, sharded_grads() ? grad_shard_.data() : nullptr);
      });
    else
      model_.set_grads_ready({});
  };
  if (pipelined()) {
    loss_sum = pipe_->run(
        train_actions_, [this](int m, int32_t* tok, int32_t* tgt) { read_micro_batch(*train_, step_, m, tok, tgt); },
        dloss, hook_last);
  } else {
    for (int m = 0; m < micro_batches_; ++m) {
      read_micro_batch(*train_, step_, m, inputs_.data(), targets_.data());
      hook_last(0, m);
      loss_sum += model_.forward_backward(inputs_.data(), targets_.data(), true, dloss);
    }
  }
  if (dp_) model_.set_grads_ready({});
  double comm_wait_s = 0.0;
  if (dp_) {
    comm_wait_s = zero3_grads_ ? zero3_grads_->finish() : dp_->finish();
    groups_->data().all_reduce(std::span<double>(&loss_sum, 1));
  }
  if (pipelined()) {
    // Tied embedding: the first stage's wte gradient (embedding) and the last stage's (output
    // projection) are summed, so both copies take the same optimizer step and stay bit-identical.
    // With ZeRO 2 and 3 the reduced wte gradient exists only as shards; the first and last stage shard wte
    // identically (the plan is per tensor, same rows and data rank), so the shards are summed instead.
    if (groups_->has_embedding()) {
      const ParamTensor& wte = model_.layout().get(ParamKind::wte);
      sync_for(*groups_->embedding(), be_);
      if (!sharded_grads()) {
        groups_->embedding()->all_reduce(std::span<float>(model_.grads() + wte.offset, wte.count));
      } else {
        for (const ShardPiece& p : dp_->pieces())
          if (model_.layout().tensors()[p.tensor].kind == ParamKind::wte)
            groups_->embedding()->all_reduce(std::span<float>(grad_shard_.data() + p.state_offset, p.count));
      }
    }
    groups_->pipeline().all_reduce(std::span<double>(&loss_sum, 1));  // only the last stage's is non-zero
  }
  const double loss = loss_sum / tokens_per_step;

  const double grad_norm = std::sqrt(gradient_norm_squared());
  STRATA_CHECK(std::isfinite(loss) && std::isfinite(grad_norm), internal, "training diverged at step ", step_ + 1,
               ": loss ", loss, ", gradient norm ", grad_norm, " (lower optim.lr or set train.grad_clip)");
  const double clip = cfg_.train.grad_clip;
  AdamWParams hp;
  hp.lr = static_cast<float>(schedule_.at(step_));
  hp.beta1 = static_cast<float>(cfg_.optim.beta1);
  hp.beta2 = static_cast<float>(cfg_.optim.beta2);
  hp.eps = static_cast<float>(cfg_.optim.eps);
  hp.weight_decay = static_cast<float>(cfg_.optim.weight_decay);
  hp.grad_scale = (clip > 0 && grad_norm > clip) ? static_cast<float>(clip / grad_norm) : 1.0f;
  hp.step = step_ + 1;
  if (ckpt_) ckpt_->wait_for_copy();  // an async checkpoint still copying the parameters and moments
  if (zero3_) zero3_->invalidate();  // gathered copies are stale once the shard is updated
  be_.adamw_update(zero3_ ? zero3_->shard() : model_.params(), sharded_grads() ? grad_shard_.data() : model_.grads(),
                   adam_m_.data(), adam_v_.data(), segments_, hp);
  if (dp_) {
    sync_for(groups_->data(), be_);  // the optimizer step wrote the shard
    dp_->gather_parameters(model_.params());
  }
  model_.refresh_working_weights();  // bf16: the GEMMs' copy of the updated master weights
  be_.synchronize();

  ++step_;
  tokens_ += static_cast<int64_t>(tokens_per_step);
  StepMetrics out;
  out.step = step_;
  out.total_steps = cfg_.train.steps;
  out.loss = loss;
  out.lr = hp.lr;
  out.grad_norm = grad_norm;
  out.tokens = tokens_;
  const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
  out.step_ms = seconds * 1e3;
  out.tokens_per_s = tokens_per_step / seconds;
  // Per rank: each of the data_size ranks processes tokens_per_step / data_size tokens of the step.
  // With tensor and pipeline parallelism each of the T*P ranks of a replica does 1/(T*P) of its FLOPs.
  out.mfu = peak_flops_ > 0
                ? out.tokens_per_s / (data_size_ * tensor_size_ * pipeline_size_) * flops_per_token_ / peak_flops_
                : 0.0;
  out.comm_wait_ms = comm_wait_s * 1e3;
  if (groups_) {
    CommBytes& b = out.comm_bytes_by_group;
    b.tensor = groups_->tensor().stats().total_bytes();
    b.pipeline = groups_->pipeline().stats().total_bytes();
    b.data = groups_->data().stats().total_bytes();
    b.embedding = groups_->has_embedding() ? groups_->embedding()->stats().total_bytes() : 0;
    b.model = groups_->model().stats().total_bytes();
    double blocked = groups_->tensor().stats().blocked_seconds + groups_->pipeline().stats().blocked_seconds +
                     groups_->data().stats().blocked_seconds + groups_->model().stats().blocked_seconds;
    if (groups_->has_embedding()) blocked += groups_->embedding()->stats().blocked_seconds;
    out.comm_blocked_ms = blocked * 1e3;
  }
  if (dp_) {
    out.comm_bytes = groups_->data().stats().total_bytes();
    out.comm_overlap = zero3_grads_ ? zero3_grads_->overlapped_fraction() : dp_->overlapped_fraction();
  }
  return out;
}

Trainer::Memory Trainer::memory() const {
  Memory m;
  const std::size_t f = sizeof(float);
  m.params = (zero3_ ? zero3_->shard_floats() + zero3_->buffer_floats() : model_.num_params()) * f;
  // bf16: the working copy, or with ZeRO-3 at most one bf16 copy of the gathered ranges.
  if (model_.precision() == Precision::bf16)
    m.params += zero3_ ? zero3_->buffer_floats() * sizeof(bf16) : model_.working_weight_bytes();
  m.grads = (zero3_grads_ ? zero3_grads_->buffer_floats() : model_.num_params()) * f + grad_shard_.bytes();
  m.optimizer = optimizer_state_floats() * f;
  m.activations = model_.activation_bytes();
  return m;
}

void Trainer::read_micro_batch(BatchSource& source, int64_t batch, int m, int32_t* tokens, int32_t* targets) {
  if (&source == train_.get()) fail_if_test_asks(groups_, batch + 1, m);
  const uint64_t first = micro_batch_first_sample(
      static_cast<uint64_t>(batch), static_cast<uint64_t>(cfg_.train.global_batch), static_cast<uint64_t>(m),
      static_cast<uint64_t>(data_rank_), static_cast<uint64_t>(data_size_), static_cast<uint64_t>(cfg_.train.micro_batch));
  source.read(first, cfg_.train.micro_batch, tokens, targets);
}

double Trainer::gradient_norm_squared() {
  if (sharded_grads()) {
    // Sum of squares of the reduced gradient over the owned shards, by kind, summed over the data group;
    // then the tensor and pipeline rules below.
    const std::vector<ShardPiece>& pieces = dp_->pieces();
    for (std::size_t i = 0; i < pieces.size(); ++i)
      be_.sum_squares(norm_.data() + i, grad_shard_.data() + pieces[i].state_offset, pieces[i].count);
    std::vector<float> parts(pieces.size());
    be_.copy_to_host(parts.data(), norm_.data(), parts.size() * sizeof(float));
    double sums[2] = {0.0, 0.0};  // replicated, sharded
    for (std::size_t i = 0; i < pieces.size(); ++i) {
      const NormKind kind = norm_kind_[pieces[i].tensor];
      if (kind != NormKind::skip) sums[kind == NormKind::sharded ? 1 : 0] += parts[i];
    }
    groups_->data().all_reduce(std::span<double>(sums, 2));
    if (tensor_size_ > 1) groups_->tensor().all_reduce(std::span<double>(&sums[1], 1));
    double total = sums[0] + sums[1];
    if (pipelined()) groups_->pipeline().all_reduce(std::span<double>(&total, 1));
    return total;
  }
  if (tensor_size_ == 1 && !pipelined()) {
    be_.sum_squares(norm_.data(), model_.grads(), model_.num_params());
    float norm_sq = 0.0f;
    be_.copy_to_host(&norm_sq, norm_.data(), sizeof(float));
    return static_cast<double>(norm_sq);
  }
  const std::size_t nr = replicated_.size(), ns = sharded_.size();
  for (std::size_t i = 0; i < nr; ++i)
    be_.sum_squares(norm_.data() + i, model_.grads() + replicated_[i].offset, replicated_[i].count);
  for (std::size_t i = 0; i < ns; ++i)
    be_.sum_squares(norm_.data() + nr + i, model_.grads() + sharded_[i].offset, sharded_[i].count);
  std::vector<float> parts(nr + ns);
  be_.copy_to_host(parts.data(), norm_.data(), parts.size() * sizeof(float));
  double replicated = 0.0, sharded = 0.0;
  for (std::size_t i = 0; i < nr; ++i) replicated += parts[i];
  for (std::size_t i = 0; i < ns; ++i) sharded += parts[nr + i];
  if (tensor_size_ > 1) groups_->tensor().all_reduce(std::span<double>(&sharded, 1));
  double total = sharded + replicated;
  if (pipelined()) groups_->pipeline().all_reduce(std::span<double>(&total, 1));
  return total;
}

double Trainer::evaluate() {
  STRATA_CHECK(valid_ != nullptr, internal, "evaluate() without validation data");
  const int t = cfg_.model.seq_len;
  const int64_t g = cfg_.train.global_batch;
  double loss_sum = 0.0;
  // The same global batches from the start of the validation data every time, split over the data
  // ranks like training batches.
  for (int64_t b = 0; b < cfg_.train.eval_steps; ++b) {
    if (pipelined()) {
      loss_sum += pipe_->run(
          eval_actions_, [&](int m, int32_t* tok, int32_t* tgt) { read_micro_batch(*valid_, b, m, tok, tgt); }, 0.0f);
      continue;
    }
    for (int m = 0; m < micro_batches_; ++m) {
      read_micro_batch(*valid_, b, m, inputs_.data(), targets_.data());
      loss_sum += model_.forward_backward(inputs_.data(), targets_.data(), false, 0.0f);
    }
  }
  if (pipelined()) groups_->pipeline().all_reduce(std::span<double>(&loss_sum, 1));
  if (dp_) groups_->data().all_reduce(std::span<double>(&loss_sum, 1));
  const double tokens = static_cast<double>(cfg_.train.eval_steps) * g * t;
  return tokens > 0 ? loss_sum / tokens : 0.0;
}

StopReason Trainer::run(MetricsLogger& logger, StopPolicy* stop) {
  const int64_t total = cfg_.train.steps;
  const int64_t eval_every = cfg_.train.eval_interval;
  const bool can_eval = valid_ != nullptr && cfg_.train.eval_steps > 0;
  StopReason reason = StopReason::none;
  while (step_ < total) {
    fail_if_test_asks(groups_, step_ + 1, -1);
    StepMetrics m = step();
    const bool last = step_ == total;
    if (can_eval && ((eval_every > 0 && step_ % eval_every == 0) || last)) m.val_loss = evaluate();
    // The step boundary: the stop decision (collective) comes first so that the last step is logged.
    reason = stop != nullptr && !last ? stop->check(m.step_ms / 1e3) : StopReason::none;
    if (step_ == 1 || step_ % cfg_.train.log_interval == 0 || last || m.val_loss || reason != StopReason::none)
      logger.log(m);
    if (reason != StopReason::none) break;
    if (ckpt_ == nullptr || cfg_.checkpoint.dir.empty()) continue;
    // Saves every checkpoint.interval steps and at the end; a pending async save commits when done.
    const int64_t every = cfg_.checkpoint.interval;
    if ((every > 0 && step_ % every == 0) || (last && ckpt_->last_saved_step() != step_)) {
      const auto t0 = std::chrono::steady_clock::now();
      save_checkpoint_now();
      if (stop != nullptr) stop->record_save(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    } else {
      ckpt_->poll();
    }
  }
  // Stopped early: every rank saves this step now (unless the periodic save just did) and waits until
  // `latest` names it, so that the run can exit and be resumed.
  if (reason != StopReason::none && ckpt_ != nullptr && !cfg_.checkpoint.dir.empty() && ckpt_->last_saved_step() != step_)
    save_checkpoint_now();
  wait_for_checkpoint();
  return reason;
}

}  // namespace strata
