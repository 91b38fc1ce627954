// plan_time.cpp — see plan_time.h.
#include "src/plan_time.h"

#include <algorithm>
#include <numeric>

#include "parallel/topology.h"

namespace strata {
namespace {

struct Link {
  double gbps = 0, latency_us = 0, efficiency = 1;
};

// The link of a group of n ranks spaced `stride` world ranks apart: one node when they fit in one.
Link link_of(const Hardware& hw, int world, int stride, int n) {
  const bool one_node = world <= hw.gpus_per_node || static_cast<long long>(stride) * n <= hw.gpus_per_node;
  return one_node ? Link{hw.intra_gbps, hw.intra_latency_us, hw.link_efficiency}
                  : Link{hw.inter_gbps, hw.inter_latency_us, hw.link_efficiency};
}

double collective(CommOp op, double payload, int n, const Link& link, GroupTraffic* traffic, double times = 1) {
  const double s = collective_seconds(op, payload, n, link.gbps, link.latency_us, link.efficiency);
  if (traffic != nullptr) {
    traffic->payload += times * payload;
    traffic->bus += times * bus_bytes(op, payload, n);
    traffic->seconds += times * s;
  }
  return s;
}

struct Machine {
  const Hardware& hw;
  double peak;  // FLOP/s of the layout's precision
  double gemm(double m, double k, double n, double e) const {
    const double flops = 2.0 * m * k * n, bytes = e * (m * k + k * n + m * n);
    return std::max(flops / (peak * hw.gemm_efficiency), bytes / (hw.hbm_gbps * 1e9));
  }
  double flops(double f) const { return f / (peak * hw.gemm_efficiency); }
  double memory(double bytes) const { return bytes / (hw.hbm_gbps * 1e9); }
};

}  // namespace

double collective_seconds(CommOp op, double payload, int n, double gbps, double latency_us, double efficiency) {
  if (n <= 1 && op != CommOp::send) return 0.0;
  const double steps = op == CommOp::all_reduce ? 2.0 * (n - 1) : op == CommOp::send ? 1.0 : n - 1.0;
  return steps * latency_us * 1e-6 + bus_bytes(op, payload, n) / (gbps * 1e9 * efficiency);
}

StepPrediction predict(const GptShape& shape_in, const PlanLayout& l, const Hardware& hw, double train_tokens) {
  StepPrediction r;
  r.layout = l;
  GptShape s = shape_in;
  s.tensor = l.tensor;
  r.shape = s;
  r.parameters = gpt_parameter_count(s);
  r.parameters_unpadded = r.parameters - static_cast<int64_t>(s.padded_vocab() - s.vocab_size) * s.hidden;
  r.model_flops_per_token = gpt_flops_per_token(s);
  r.hardware_flops_per_token = hardware_flops_per_token(s, l.recompute);
  r.peak_tflops = hw.peak_tflops(l.precision);
  const Machine mc{hw, r.peak_tflops * 1e12};

  const Topology topo(l.world(), 0, l.tensor, l.pipeline, l.order);
  const Link tp_link = link_of(hw, l.world(), topo.stride(Axis::tensor), l.tensor);
  const Link dp_link = link_of(hw, l.world(), topo.stride(Axis::data), l.data);
  const Link pp_link = link_of(hw, l.world(), topo.stride(Axis::pipeline), 2);
  const Link emb_link = link_of(hw, l.world(), topo.stride(Axis::pipeline) * std::max(1, l.pipeline - 1), 2);
  const int t = l.tensor, d = l.data, p = l.pipeline, v = l.virtual_stages, m = l.micro_batches();
  const double e = l.param_bytes(), c = s.hidden, tokens = static_cast<double>(l.micro_batch) * s.seq_len;
  const double vp = s.padded_vocab(), t_rep = l.sequence_parallel ? t : 1.0;
  const double act = tokens * c * e;  // one (b*s, C) activation

  // One block, one micro-batch.
  const double gemms = mc.gemm(tokens, c, 3 * c / t, e) + mc.gemm(tokens, c / t, c, e) +
                       mc.gemm(tokens, c, 4 * c / t, e) + mc.gemm(tokens, 4 * c / t, c, e);
  const double attn = mc.flops(4.0 * tokens * s.seq_len * c / t);
  const double elementwise = mc.memory(act * (10.0 / t_rep + 8.0 / t));
  const double block_fwd = gemms + attn + elementwise;
  double block_bwd = 2.0 * block_fwd;
  if (l.recompute == "full") block_bwd += block_fwd;
  if (l.recompute == "selective") block_bwd += attn;
  // Tensor-parallel collectives of a block: two forward, two backward (all-reduce, or all-gather +
  // reduce-scatter with sequence parallelism: the same bus volume), two more with full recompute.
  auto tp_pair = [&](GroupTraffic* tr, double times) {
    if (t == 1) return 0.0;
    if (!l.sequence_parallel) return collective(CommOp::all_reduce, act, t, tp_link, tr, times);
    return collective(CommOp::all_gather, act, t, tp_link, tr, times) +
           collective(CommOp::reduce_scatter, act, t, tp_link, tr, times);
  };
  const double tp_block_fwd = 2 * tp_pair(nullptr, 0);
  const double tp_block_bwd = (l.recompute == "full" ? 4 : 2) * tp_pair(nullptr, 0);
  const double p2p = collective(CommOp::send, act / t_rep, 2, pp_link, nullptr);

  r.ideal_bubble_fraction = static_cast<double>(p - 1) / (static_cast<double>(v) * m);
  std::vector<double> per_mb(p);
  for (int stage = 0; stage < p; ++stage) {
    StageTime st;
    GroupTraffic tensor, pipe;
    const std::vector<ModelChunk> chunks = stage_chunks(s, l, stage);
    int blocks = 0;
    for (const ModelChunk& ch : chunks) {
      blocks += ch.num_layers;
      st.forward += ch.num_layers * (block_fwd + tp_block_fwd);
      st.backward += ch.num_layers * (block_bwd + tp_block_bwd);
      st.tensor_comm += ch.num_layers * (tp_block_fwd + tp_block_bwd);
      tp_pair(&tensor, 2.0 * ch.num_layers * m);
      tp_pair(&tensor, (l.recompute == "full" ? 2.0 : 0.0) * ch.num_layers * m);
      tp_pair(&tensor, 2.0 * ch.num_layers * m);
      if (ch.has_embedding) {
        st.forward += mc.memory(3 * act);
        st.backward += mc.memory(3 * act);
        if (t > 1) {
          const double ar = collective(l.sequence_parallel ? CommOp::reduce_scatter : CommOp::all_reduce, act, t,
                                       tp_link, &tensor, m);
          st.forward += ar;
          st.tensor_comm += ar;
        }
      }
      if (ch.has_head) {
        const double logits = mc.gemm(tokens, c, vp / t, e);
        const double ce = mc.memory(tokens * vp / t * 4.0);
        st.forward += mc.memory(3 * act / t_rep) + logits + 3 * ce;
        st.backward += mc.memory(3 * act / t_rep) + 2 * logits + 2 * ce;
        if (t > 1) {
          // Vocab-parallel cross-entropy: all-reduces of the row maxima (b*s floats) and of the sums of
          // exponentials with the target logits (2*b*s floats); backward: the output projection's input
          // gradient (column-parallel) is all-reduced. Sequence parallelism gathers the final LayerNorm's
          // output first and scatters its gradient back.
          const double stats = collective(CommOp::all_reduce, tokens * 4, t, tp_link, &tensor, m) +
                               collective(CommOp::all_reduce, tokens * 8, t, tp_link, &tensor, m);
          const double input_grad = collective(CommOp::all_reduce, act, t, tp_link, &tensor, m);
          const double sp = l.sequence_parallel ? collective(CommOp::all_gather, act, t, tp_link, &tensor, m) +
                                                      collective(CommOp::reduce_scatter, act, t, tp_link, &tensor, m)
                                                : 0.0;
          st.forward += stats + sp / 2;
          st.backward += input_grad + sp / 2;
          st.tensor_comm += stats + input_grad + sp;
        }
      }
      // Per micro-batch: the activation to the next chunk (forward) and its gradient back, the input
      // from the previous chunk and its gradient to it; the communicator counts sends and receives.
      if (!ch.has_head) {
        st.forward += p2p, st.p2p += p2p;
        collective(CommOp::send, act / t_rep, 2, pp_link, &pipe, m);
        collective(CommOp::recv, act / t_rep, 2, pp_link, &pipe, m);
      }
      if (!ch.has_embedding) {
        st.backward += p2p, st.p2p += p2p;
        collective(CommOp::send, act / t_rep, 2, pp_link, &pipe, m);
        collective(CommOp::recv, act / t_rep, 2, pp_link, &pipe, m);
      }
    }
    // Once per step: the loss sum and the gradient norm's partial sums (doubles) over the pipeline and
    // tensor groups, and the tied wte gradient over the embedding group (first and last stage).
    if (p > 1) collective(CommOp::all_reduce, 8, p, pp_link, &pipe, 2);
    if (t > 1) collective(CommOp::all_reduce, 8, t, tp_link, &tensor);
    GroupTraffic embedding;
    if (p > 1 && (stage == 0 || stage == p - 1))
      collective(CommOp::all_reduce, 4.0 * vp / t * c, 2, emb_link, &embedding);
    // Data parallelism and the optimizer step.
    const RankCounts n = planned_counts(s, l, stage);
    GroupTraffic data;
    const double grads = 4.0 * n.params, weights = e * n.params;
    double zero3_per_mb = 0;
    if (d > 1) {
      switch (l.zero_stage) {
        case 0:
        case 1:
          st.dp_reduce = collective(CommOp::all_reduce, grads, d, dp_link, &data);
          break;
        case 2:
          st.dp_reduce = collective(CommOp::reduce_scatter, grads, d, dp_link, &data);
          break;
        default: {
          // ZeRO-3 (parallel/zero3_params.h): gradients reduce-scattered as in stage 2; each parameter
          // range all-gathered when used: the embedding and the head once per step (their own buffers
          // keep them), the blocks in the first forward, then blocks - 2 in each of the other 2M - 1
          // passes (two block buffers keep the two at each turn). The gathers are prefetched while the
          // previous range computes.
          st.dp_reduce = collective(CommOp::reduce_scatter, grads, d, dp_link, &data);
          const double block = e * block_parameters(s, t);
          const double gathered = blocks <= 2 ? blocks : blocks + (blocks - 2) * (2.0 * m - 1);
          collective(CommOp::all_gather, block, d, dp_link, &data, gathered);
          for (const ModelChunk& ch : chunks) {
            if (ch.has_embedding) collective(CommOp::all_gather, e * (vp / t * c + s.seq_len * c), d, dp_link, &data);
            if (ch.has_head) collective(CommOp::all_gather, e * (2 * c + (stage == 0 ? 0 : vp / t * c)), d, dp_link, &data);
          }
          zero3_per_mb = 2 * blocks * collective(CommOp::all_gather, block, d, dp_link, nullptr);
          break;
        }
      }
      if (l.zero_stage == 1 || l.zero_stage == 2)
        st.param_gather = collective(CommOp::all_gather, weights, d, dp_link, &data);
      collective(CommOp::all_reduce, 8, d, dp_link, &data);  // the loss sum
      if (l.zero_stage >= 2) collective(CommOp::all_reduce, 16, d, dp_link, &data);  // norm partial sums of shards
    }
    if (zero3_per_mb > st.forward + st.backward) st.backward += zero3_per_mb - (st.forward + st.backward);
    // Buckets: one per block, the embedding and the head; all but the last overlap the last backward.
    const int buckets = blocks + 2;
    const double window = st.backward * (buckets - 1) / buckets;
    const double slack = stage * (st.backward);  // rank r's last backward ends r backward-times earlier
    st.dp_exposed = std::max(st.dp_reduce / buckets, st.dp_reduce - window - slack);
    st.optimizer = mc.memory(32.0 * n.owned);
    per_mb[stage] = st.forward + st.backward;
    st.tensor = tensor, st.pipeline = pipe, st.data = data, st.embedding = embedding;
    r.stages.push_back(st);
    r.counts.push_back(n);
    r.memory.push_back(rank_memory(s, l, hw, stage, n));
    auto busiest = [](GroupTraffic& into, const GroupTraffic& g) {
      if (g.payload > into.payload) into = g;
    };
    busiest(r.tensor, tensor);
    busiest(r.pipeline, pipe);
    busiest(r.data, data);
    busiest(r.embedding, embedding);
  }
  const double max_c = *std::max_element(per_mb.begin(), per_mb.end());
  const double sum_c = std::accumulate(per_mb.begin(), per_mb.end(), 0.0);
  r.pipeline_s = (m - 1) * max_c + sum_c / v + (1.0 - 1.0 / v) * max_c;
  r.bubble_s = r.pipeline_s - m * max_c;
  r.bubble_fraction = r.bubble_s / r.pipeline_s;
  // After the pipeline: exposed gradient reduction, the tied-embedding all-reduce between the first
  // and last stage, the gradient norm and loss (latency only), the optimizer and ZeRO's all-gather.
  const double embedding =
      p > 1 ? collective_seconds(CommOp::all_reduce, 4.0 * vp / t * c, 2, emb_link.gbps, emb_link.latency_us,
                                 emb_link.efficiency)
            : 0.0;
  const double norms = 2 * (collective(CommOp::all_reduce, 8, t, tp_link, nullptr) +
                            collective(CommOp::all_reduce, 8, p, pp_link, nullptr) +
                            collective(CommOp::all_reduce, 8, d, dp_link, nullptr));
  double tail = 0;
  for (int stage = 0; stage < p; ++stage) {
    const StageTime& st = r.stages[stage];
    r.dp_exposed_s = std::max(r.dp_exposed_s, st.dp_exposed);
    tail = std::max(tail, st.dp_exposed + st.optimizer + st.param_gather);
  }
  r.tail_s = tail + embedding + norms;
  r.step_s = r.pipeline_s + r.tail_s;
  const double step_tokens = static_cast<double>(l.global_batch) * s.seq_len;
  r.tokens_per_s = step_tokens / r.step_s;
  const double world_peak = static_cast<double>(l.world()) * r.peak_tflops * 1e12;
  r.mfu = world_peak > 0 ? r.tokens_per_s * r.model_flops_per_token / world_peak : 0;
  r.hfu = world_peak > 0 ? r.tokens_per_s * r.hardware_flops_per_token / world_peak : 0;
  r.capacity = hw.memory_gib * 1024.0 * 1024.0 * 1024.0;
  for (int stage = 0; stage < p; ++stage) {
    if (r.memory[stage].total() > r.max_memory) {
      r.max_memory = r.memory[stage].total();
      r.max_memory_stage = stage;
    }
  }
  r.fits = r.max_memory <= r.capacity;
  r.train_tokens = train_tokens;
  r.days = train_tokens / r.tokens_per_s / 86400.0;
  r.gpu_hours = r.days * 24.0 * l.world();
  return r;
}

}  // namespace strata
