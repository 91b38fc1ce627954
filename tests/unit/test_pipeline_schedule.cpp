// Pipeline schedules as data (parallel/pipeline_schedule.h), checked without MPI for every (P, M) up
// to 8 x 12: each stage forwards and backwards every micro-batch exactly once, forward before backward,
// backwards in order; sends and receives pair up between neighbours in the same order; a simulation of
// all stages (blocking receives, non-blocking sends) runs every list to the end; the peak number of
// micro-batches in flight on stage s is min(P - s, M).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "parallel/pipeline_schedule.h"

namespace strata {
namespace {

std::vector<PipeAction> only(const std::vector<PipeAction>& actions, PipeOp op) {
  std::vector<PipeAction> out;
  for (const PipeAction& a : actions)
    if (a.op == op) out.push_back(a);
  return out;
}

std::vector<int> micro_batches(const std::vector<PipeAction>& actions) {
  std::vector<int> out;
  for (const PipeAction& a : actions) out.push_back(a.micro_batch);
  return out;
}

// Chunk that receives what `sender`'s chunk sends: forward to the next virtual stage (the next chunk when
// the ring wraps from the last rank to rank 0), backward to the previous one.
int receiving_chunk(const PipeAction& send, int sender, int stages) {
  if (send.op == PipeOp::send_forward) return send.chunk + (sender == stages - 1 ? 1 : 0);
  return send.chunk - (sender == 0 ? 1 : 0);
}

// Runs every rank's list: a receive proceeds only once the neighbour's matching send (same tag: the
// activation or the gradient stream) was issued, and must get the message it expects (same micro-batch,
// for its chunk). Simulated time: a chunk's forward takes `forward_cost` units, its backward
// `backward_cost`, messages none; a receive waits until its message was sent.
struct Timeline {
  bool completed = false;  // every list ran to its end
  long makespan = 0;       // time when the last rank finishes
  long busy = 0;           // compute time of one rank (the same on every rank)
};
Timeline simulate(const std::vector<std::vector<PipeAction>>& lists, long forward_cost = 1, long backward_cost = 2) {
  const int p = static_cast<int>(lists.size());
  std::vector<std::size_t> pc(p, 0);
  std::vector<long> clock(p, 0), busy(p, 0);
  // sent[s][d][tag]: messages stage s has sent to stage d so far on that tag, with their send times.
  struct Sent {
    PipeAction action;
    long time;
  };
  std::vector<std::vector<std::vector<std::vector<Sent>>>> sent(
      p, std::vector<std::vector<std::vector<Sent>>>(p, std::vector<std::vector<Sent>>(2)));
  std::vector<std::vector<std::vector<std::size_t>>> received(
      p, std::vector<std::vector<std::size_t>>(p, std::vector<std::size_t>(2, 0)));  // [receiver][sender][tag]
  const auto tag_of = [](PipeOp op) {
    return op == PipeOp::send_forward || op == PipeOp::recv_forward ? kActivationTag : kGradientTag;
  };
  bool progress = true;
  while (progress) {
    progress = false;
    for (int s = 0; s < p; ++s) {
      while (pc[s] < lists[s].size()) {
        const PipeAction& a = lists[s][pc[s]];
        if (a.op == PipeOp::send_forward || a.op == PipeOp::send_backward) {
          sent[s][a.peer][tag_of(a.op)].push_back({a, clock[s]});
        } else if (a.op == PipeOp::recv_forward || a.op == PipeOp::recv_backward) {
          std::size_t& k = received[s][a.peer][tag_of(a.op)];
          const auto& stream = sent[a.peer][s][tag_of(a.op)];
          if (k >= stream.size()) break;  // blocked
          const PipeAction& msg = stream[k].action;
          const PipeOp want = a.op == PipeOp::recv_forward ? PipeOp::send_forward : PipeOp::send_backward;
          EXPECT_EQ(msg.op, want) << "rank " << s << " " << to_string(a) << " got " << to_string(msg);
          EXPECT_EQ(msg.micro_batch, a.micro_batch) << "rank " << s << " " << to_string(a) << " got " << to_string(msg);
          EXPECT_EQ(receiving_chunk(msg, a.peer, p), a.chunk) << "rank " << s << " " << to_string(a) << " got "
                                                              << to_string(msg) << " from rank " << a.peer;
          clock[s] = std::max(clock[s], stream[k].time);
          ++k;
        } else {
          const long cost = a.op == PipeOp::forward ? forward_cost : backward_cost;
          clock[s] += cost;
          busy[s] += cost;
        }
        ++pc[s];
        progress = true;
      }
    }
  }
  Timeline t;
  t.completed = true;
  for (int s = 0; s < p; ++s) {
    t.completed = t.completed && pc[s] == lists[s].size();
    t.makespan = std::max(t.makespan, clock[s]);
    EXPECT_EQ(busy[s], busy[0]) << "rank " << s;
  }
  t.busy = busy[0];
  return t;
}

TEST(PipelineSchedule, OneFOneBListsAreCompleteOrderedMatchedAndDeadlockFree) {
  for (int p = 1; p <= 8; ++p) {
    for (int m = 1; m <= 12; ++m) {
      std::vector<std::vector<PipeAction>> lists;
      for (int s = 0; s < p; ++s) lists.push_back(pipeline_1f1b_schedule(p, s, m));
      for (int s = 0; s < p; ++s) {
        SCOPED_TRACE("P=" + std::to_string(p) + " M=" + std::to_string(m) + " stage " + std::to_string(s));
        const auto& l = lists[s];
        std::vector<int> expect(m);
        for (int i = 0; i < m; ++i) expect[i] = i;
        EXPECT_EQ(micro_batches(only(l, PipeOp::forward)), expect);
        EXPECT_EQ(micro_batches(only(l, PipeOp::backward)), expect);
        for (int i = 0; i < m; ++i) {
          const auto at = [&](PipeOp op) {
            return std::find(l.begin(), l.end(), PipeAction{op, i, -1}) - l.begin();
          };
          EXPECT_LT(at(PipeOp::forward), at(PipeOp::backward)) << "micro-batch " << i;
        }
        EXPECT_EQ(pipeline_peak_in_flight(l), std::min(p - s, m));
        // Receives come right before their compute, sends right after (the executor relies on it).
        for (std::size_t i = 0; i < l.size(); ++i) {
          if (l[i].op == PipeOp::recv_forward || l[i].op == PipeOp::recv_backward) {
            ASSERT_LT(i + 1, l.size());
            EXPECT_EQ(l[i + 1].op, l[i].op == PipeOp::recv_forward ? PipeOp::forward : PipeOp::backward);
            EXPECT_EQ(l[i + 1].micro_batch, l[i].micro_batch);
          }
        }
        // Each micro-batch crosses every boundary once each way; the first stage receives nothing, the
        // last sends nothing forward.
        EXPECT_EQ(only(l, PipeOp::recv_forward).size(), s > 0 ? std::size_t(m) : 0);
        EXPECT_EQ(only(l, PipeOp::send_backward).size(), s > 0 ? std::size_t(m) : 0);
        EXPECT_EQ(only(l, PipeOp::send_forward).size(), s < p - 1 ? std::size_t(m) : 0);
        EXPECT_EQ(only(l, PipeOp::recv_backward).size(), s < p - 1 ? std::size_t(m) : 0);
        if (s + 1 < p) {
          EXPECT_EQ(micro_batches(only(l, PipeOp::send_forward)), micro_batches(only(lists[s + 1], PipeOp::recv_forward)));
          EXPECT_EQ(micro_batches(only(lists[s + 1], PipeOp::send_backward)), micro_batches(only(l, PipeOp::recv_backward)));
        }
      }
      EXPECT_TRUE(simulate(lists).completed) << "P=" << p << " M=" << m << ": the stages deadlock";
    }
  }
}

TEST(PipelineSchedule, OneFOneBOnFourStagesMatchesThePaper) {
  // PipeDream-Flush, P = 4, M = 8: stage 0 warms up with 3 forwards, the last stage alternates.
  auto compute = [](const std::vector<PipeAction>& l) {
    std::string s;
    for (const PipeAction& a : l)
      if (a.op == PipeOp::forward || a.op == PipeOp::backward) s += to_string(a) + " ";
    return s;
  };
  EXPECT_EQ(compute(pipeline_1f1b_schedule(4, 0, 8)), "F0 F1 F2 F3 B0 F4 B1 F5 B2 F6 B3 F7 B4 B5 B6 B7 ");
  EXPECT_EQ(compute(pipeline_1f1b_schedule(4, 2, 8)), "F0 F1 B0 F2 B1 F3 B2 F4 B3 F5 B4 F6 B5 F7 B6 B7 ");
  EXPECT_EQ(compute(pipeline_1f1b_schedule(4, 3, 8)), "F0 B0 F1 B1 F2 B2 F3 B3 F4 B4 F5 B5 F6 B6 F7 B7 ");
  EXPECT_EQ(compute(pipeline_1f1b_schedule(4, 0, 2)), "F0 F1 B0 B1 ");  // fewer micro-batches than stages
}

TEST(PipelineSchedule, ForwardOnlyListsAreMatchedAndDeadlockFree) {
  for (int p = 1; p <= 8; ++p) {
    for (int m = 1; m <= 5; ++m) {
      std::vector<std::vector<PipeAction>> lists;
      for (int s = 0; s < p; ++s) lists.push_back(pipeline_forward_schedule(p, s, m));
      for (int s = 0; s < p; ++s) {
        EXPECT_TRUE(only(lists[s], PipeOp::backward).empty());
        EXPECT_EQ(only(lists[s], PipeOp::forward).size(), std::size_t(m));
        EXPECT_EQ(pipeline_peak_in_flight(lists[s]), 1);
      }
      EXPECT_TRUE(simulate(lists).completed) << "P=" << p << " M=" << m;
    }
  }
}

// The compute actions of a list as "F0 F1c1 B0c1 ..." (chunk 0 unmarked).
std::string compute_order(const std::vector<PipeAction>& l) {
  std::string s;
  for (const PipeAction& a : l)
    if (a.op == PipeOp::forward || a.op == PipeOp::backward) s += to_string(a) + " ";
  return s;
}

std::vector<PipeAction> of_chunk(const std::vector<PipeAction>& actions, int chunk) {
  std::vector<PipeAction> out;
  for (const PipeAction& a : actions)
    if (a.chunk == chunk) out.push_back(a);
  return out;
}

// Interleaved 1F1B for P = 2..6 ranks, V = 2..4 chunks and M = P, 2P, 3P micro-batches: every chunk
// forwards and backwards every micro-batch once, in micro-batch order; a micro-batch's forward runs
// through chunk c before chunk c + 1 and its backward through chunk c + 1 before chunk c; each rank's
// action count; messages match by tag, chunk and micro-batch, no list deadlocks; the peak in flight is
// min(warmup + 1, M*V) chunk-micro-batches; and the simulated step (chunk forward 1, backward 2, free
// messages) idles (P - 1) x 3 units per rank, the bubble (P - 1)/(V*M) of the compute time, where 1F1B
// on the same model (a stage's forward V, backward 2V) idles (P - 1) x 3V, the bubble (P - 1)/M.
TEST(PipelineSchedule, InterleavedListsAreCompleteOrderedMatchedDeadlockFreeAndShrinkTheBubble) {
  for (int p = 2; p <= 6; ++p) {
    for (int v = 2; v <= 4; ++v) {
      for (int m = p; m <= 3 * p; m += p) {
        const std::string where = "P=" + std::to_string(p) + " V=" + std::to_string(v) + " M=" + std::to_string(m);
        std::vector<std::vector<PipeAction>> lists, plain;
        for (int s = 0; s < p; ++s) {
          lists.push_back(pipeline_interleaved_schedule(p, s, m, v));
          plain.push_back(pipeline_1f1b_schedule(p, s, m));
          EXPECT_EQ(pipeline_train_schedule(p, s, m, v), lists.back());
          EXPECT_EQ(pipeline_train_schedule(p, s, m, 1), plain.back());
        }
        for (int s = 0; s < p; ++s) {
          SCOPED_TRACE(where + " rank " + std::to_string(s));
          const auto& l = lists[s];
          std::vector<int> expect(m);
          for (int i = 0; i < m; ++i) expect[i] = i;
          for (int c = 0; c < v; ++c) {
            EXPECT_EQ(micro_batches(only(of_chunk(l, c), PipeOp::forward)), expect) << "chunk " << c;
            EXPECT_EQ(micro_batches(only(of_chunk(l, c), PipeOp::backward)), expect) << "chunk " << c;
          }
          for (int i = 0; i < m; ++i) {
            const auto at = [&](PipeOp op, int c) {
              return std::find(l.begin(), l.end(), PipeAction{op, i, -1, c}) - l.begin();
            };
            for (int c = 0; c + 1 < v; ++c) {
              EXPECT_LT(at(PipeOp::forward, c), at(PipeOp::forward, c + 1)) << "micro-batch " << i << " chunk " << c;
              EXPECT_GT(at(PipeOp::backward, c), at(PipeOp::backward, c + 1)) << "micro-batch " << i << " chunk " << c;
            }
            EXPECT_LT(at(PipeOp::forward, v - 1), at(PipeOp::backward, v - 1)) << "micro-batch " << i;
          }
          // Per rank: M*V forwards and backwards; rank 0's chunk 0 receives no input and sends no gradient,
          // rank P-1's last chunk sends no output and receives no gradient.
          const std::size_t mv = static_cast<std::size_t>(m) * v, mm = static_cast<std::size_t>(m);
          EXPECT_EQ(only(l, PipeOp::forward).size(), mv);
          EXPECT_EQ(only(l, PipeOp::backward).size(), mv);
          EXPECT_EQ(only(l, PipeOp::recv_forward).size(), s == 0 ? mv - mm : mv);
          EXPECT_EQ(only(l, PipeOp::send_backward).size(), s == 0 ? mv - mm : mv);
          EXPECT_EQ(only(l, PipeOp::send_forward).size(), s == p - 1 ? mv - mm : mv);
          EXPECT_EQ(only(l, PipeOp::recv_backward).size(), s == p - 1 ? mv - mm : mv);
          EXPECT_EQ(l.size(), 6 * mv - 2 * mm * ((s == 0) + (s == p - 1)));
          const int warmup = std::min((p - s - 1) * 2 + (v - 1) * p, m * v);
          EXPECT_EQ(pipeline_peak_in_flight(l), std::min(warmup + 1, m * v));
          int per_chunk = 0;
          for (int c = 0; c < v; ++c) per_chunk += pipeline_peak_in_flight(l, c);
          EXPECT_GE(per_chunk, pipeline_peak_in_flight(l));
          for (std::size_t i = 0; i < l.size(); ++i) {
            if (l[i].op == PipeOp::recv_forward || l[i].op == PipeOp::recv_backward) {
              ASSERT_LT(i + 1, l.size());
              EXPECT_EQ(l[i + 1].op, l[i].op == PipeOp::recv_forward ? PipeOp::forward : PipeOp::backward);
              EXPECT_EQ(l[i + 1].micro_batch, l[i].micro_batch);
              EXPECT_EQ(l[i + 1].chunk, l[i].chunk);
            }
          }
        }
        const Timeline t = simulate(lists, 1, 2);
        ASSERT_TRUE(t.completed) << where << ": the ranks deadlock";
        const Timeline t1 = simulate(plain, v, 2 * v);
        ASSERT_TRUE(t1.completed) << where << ": 1F1B deadlocks";
        EXPECT_EQ(t.busy, 3L * m * v) << where;
        EXPECT_EQ(t1.busy, t.busy) << where;
        EXPECT_EQ(t1.makespan - t1.busy, 3L * v * (p - 1)) << where << ": 1F1B bubble";
        EXPECT_EQ(t.makespan - t.busy, 3L * (p - 1)) << where << ": interleaved bubble";
        EXPECT_LT(t.makespan, t1.makespan) << where;
      }
    }
  }
}

TEST(PipelineSchedule, InterleavedOrderOnFourRanksWithTwoChunks) {
  // P = 4, V = 2, M = 8 (Megatron-LM's order): groups of 4 micro-batches through chunk 0, then chunk 1;
  // rank 0 warms up with (4 - 0 - 1)*2 + (2 - 1)*4 = 10 forwards, the last rank with 4.
  EXPECT_EQ(compute_order(pipeline_interleaved_schedule(4, 0, 8, 2)),
            "F0 F1 F2 F3 F0c1 F1c1 F2c1 F3c1 F4 F5 "
            "F6 B0c1 F7 B1c1 F4c1 B2c1 F5c1 B3c1 F6c1 B0 F7c1 B1 "
            "B2 B3 B4c1 B5c1 B6c1 B7c1 B4 B5 B6 B7 ");
  EXPECT_EQ(compute_order(pipeline_interleaved_schedule(4, 3, 8, 2)),
            "F0 F1 F2 F3 "
            "F0c1 B0c1 F1c1 B1c1 F2c1 B2c1 F3c1 B3c1 F4 B0 F5 B1 F6 B2 F7 B3 F4c1 B4c1 F5c1 B5c1 F6c1 B6c1 F7c1 B7c1 "
            "B4 B5 B6 B7 ");
  // The wrap-around: rank 3's chunk 0 sends to rank 0's chunk 1; rank 0's chunk 1 sends gradients back.
  const auto l0 = pipeline_interleaved_schedule(4, 0, 8, 2);
  EXPECT_NE(std::find(l0.begin(), l0.end(), PipeAction{PipeOp::recv_forward, 0, 3, 1}), l0.end());
  EXPECT_NE(std::find(l0.begin(), l0.end(), PipeAction{PipeOp::send_backward, 0, 3, 1}), l0.end());
  EXPECT_EQ(std::find(l0.begin(), l0.end(), PipeAction{PipeOp::recv_forward, 0, 3, 0}), l0.end());
}

TEST(PipelineSchedule, InterleavedForwardOnlyListsVisitEveryChunkAndDoNotDeadlock) {
  for (int p = 2; p <= 5; ++p) {
    for (int v = 1; v <= 3; ++v) {
      for (int m = 1; m <= 4; ++m) {
        std::vector<std::vector<PipeAction>> lists;
        for (int s = 0; s < p; ++s) lists.push_back(pipeline_forward_schedule(p, s, m, v));
        for (int s = 0; s < p; ++s) {
          EXPECT_TRUE(only(lists[s], PipeOp::backward).empty());
          for (int c = 0; c < v; ++c) EXPECT_EQ(only(of_chunk(lists[s], c), PipeOp::forward).size(), std::size_t(m));
          EXPECT_EQ(pipeline_peak_in_flight(lists[s]), 1);
        }
        EXPECT_TRUE(simulate(lists).completed) << "P=" << p << " V=" << v << " M=" << m;
      }
    }
  }
}

TEST(PipelineSchedule, RejectsImpossibleArguments) {
  EXPECT_ANY_THROW(pipeline_1f1b_schedule(2, 2, 4));
  EXPECT_ANY_THROW(pipeline_1f1b_schedule(2, 0, 0));
  EXPECT_ANY_THROW(pipeline_forward_schedule(0, 0, 1));
  EXPECT_ANY_THROW(pipeline_interleaved_schedule(2, 0, 3, 2));  // micro-batches not a multiple of the stages
  EXPECT_ANY_THROW(pipeline_interleaved_schedule(2, 0, 4, 1));  // one chunk: that is 1F1B
  EXPECT_ANY_THROW(pipeline_forward_schedule(2, 0, 1, 0));
}

}  // namespace
}  // namespace strata
