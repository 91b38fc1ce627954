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

// Runs every stage's list: a receive proceeds only once the neighbour's matching send was issued.
// Returns true when every list ran to its end.
bool simulate(const std::vector<std::vector<PipeAction>>& lists) {
  const int p = static_cast<int>(lists.size());
  std::vector<std::size_t> pc(p, 0);
  // sent[s][d]: messages stage s has sent to stage d so far, as (op, micro-batch) in order.
  std::vector<std::vector<std::vector<PipeAction>>> sent(p, std::vector<std::vector<PipeAction>>(p));
  std::vector<std::vector<std::size_t>> received(p, std::vector<std::size_t>(p, 0));  // [receiver][sender]
  bool progress = true;
  while (progress) {
    progress = false;
    for (int s = 0; s < p; ++s) {
      while (pc[s] < lists[s].size()) {
        const PipeAction& a = lists[s][pc[s]];
        if (a.op == PipeOp::send_forward || a.op == PipeOp::send_backward) {
          sent[s][a.peer].push_back(a);
        } else if (a.op == PipeOp::recv_forward || a.op == PipeOp::recv_backward) {
          std::size_t& k = received[s][a.peer];
          if (k >= sent[a.peer][s].size()) break;  // blocked
          const PipeAction& msg = sent[a.peer][s][k];
          const PipeOp want = a.op == PipeOp::recv_forward ? PipeOp::send_forward : PipeOp::send_backward;
          EXPECT_EQ(msg.op, want) << "stage " << s << " " << to_string(a) << " got " << to_string(msg);
          EXPECT_EQ(msg.micro_batch, a.micro_batch) << "stage " << s << " " << to_string(a) << " got " << to_string(msg);
          ++k;
        }
        ++pc[s];
        progress = true;
      }
    }
  }
  for (int s = 0; s < p; ++s)
    if (pc[s] != lists[s].size()) return false;
  return true;
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
      EXPECT_TRUE(simulate(lists)) << "P=" << p << " M=" << m << ": the stages deadlock";
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
      EXPECT_TRUE(simulate(lists)) << "P=" << p << " M=" << m;
    }
  }
}

TEST(PipelineSchedule, RejectsImpossibleArguments) {
  EXPECT_ANY_THROW(pipeline_1f1b_schedule(2, 2, 4));
  EXPECT_ANY_THROW(pipeline_1f1b_schedule(2, 0, 0));
  EXPECT_ANY_THROW(pipeline_forward_schedule(0, 0, 1));
}

}  // namespace
}  // namespace strata
