// test_point_to_point.cpp — send/recv in the pipeline group (a ring shift, and the forward/backward
// hand-offs of a pipeline), and the embedding group linking the first and last stage.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "kernels/error.h"
#include "tests/mpi/mpi_test_util.h"

namespace strata::test {
namespace {

// Every stage sends (world rank, stage*1000 + i) to the next stage and receives from the previous
// one, around the ring: what arrives names the previous member of the topology's pipeline group.
TEST(MpiPointToPoint, PipelineRing) {
  for_each_layout([](const ParallelGroups& g) {
    Communicator& pipe = g.pipeline();
    const Topology& t = g.topology();
    const int P = pipe.size(), s = pipe.rank();
    const int next = (s + 1) % P, prev = (s + P - 1) % P;
    const int prev_world = t.pipeline_group()[prev];
    for (int c : kCounts)
      for (int variant = 0; variant < 2; ++variant) {
        std::vector<std::int32_t> out(c + 1), in(c + 1, -1);
        out[0] = world_rank();
        for (int i = 0; i < c; ++i) out[i + 1] = s * 1000 + i;
        if (variant == 0) {
          pipe.send_recv(out, next, in, prev);
        } else {  // receive posted second, completed first
          Request sent = pipe.isend(out, next);
          Request received = pipe.irecv(in, prev);
          received.wait();
          sent.wait();
        }
        ASSERT_EQ(in[0], prev_world);
        for (int i = 0; i < c; ++i) ASSERT_EQ(in[i + 1], prev * 1000 + i) << "i=" << i;
      }
  });
}

// Blocking hand-offs as in a pipeline step: activations x[i] = i leave stage 0 and each stage adds
// 1 before passing them on (stage s receives i + s - 1); gradients y[i] = 1000 + i leave the last
// stage and each stage adds 1 going back (stage s receives 1000 + i + P - 2 - s).
TEST(MpiPointToPoint, PipelineForwardBackward) {
  for_each_layout([](const ParallelGroups& g) {
    Communicator& pipe = g.pipeline();
    const int P = pipe.size(), s = pipe.rank();
    for (int c : kCounts) {
      std::vector<float> x(c);
      for (int i = 0; i < c; ++i) x[i] = static_cast<float>(i);
      if (s > 0) {
        pipe.recv(x, s - 1);
        for (int i = 0; i < c; ++i) ASSERT_EQ(x[i], static_cast<float>(i + s - 1));
        for (float& v : x) v += 1.f;
      }
      if (s < P - 1) pipe.send(x, s + 1);

      std::vector<float> y(c);
      for (int i = 0; i < c; ++i) y[i] = static_cast<float>(1000 + i);
      if (s < P - 1) {
        pipe.recv(y, s + 1);
        for (int i = 0; i < c; ++i) ASSERT_EQ(y[i], static_cast<float>(1000 + i + P - 2 - s));
        for (float& v : y) v += 1.f;
      }
      if (s > 0) pipe.send(y, s - 1);
    }
  });
}

// Tagged streams between the same two ranks never mix (the interleaved pipeline sends activations and
// gradients both ways between two stages): each stage sends the next stage three tag-1 messages, then
// three tag-0 messages; the next stage receives the tag-0 stream first. Each stream arrives in the order
// sent, and an out-of-range tag is refused.
TEST(MpiPointToPoint, TaggedStreamsDoNotMix) {
  for_each_layout([](const ParallelGroups& g) {
    Communicator& pipe = g.pipeline();
    const int P = pipe.size(), s = pipe.rank();
    const int next = (s + 1) % P, prev = (s + P - 1) % P;
    for (int c : kCounts) {
      std::vector<std::vector<float>> out(6, std::vector<float>(c)), in(6, std::vector<float>(c, -1.f));
      std::vector<Request> sends;
      for (int k = 0; k < 6; ++k) {
        const int tag = k < 3 ? 1 : 0;
        for (int i = 0; i < c; ++i) out[k][i] = static_cast<float>(s * 100000 + tag * 10000 + (k % 3) * 1000 + i);
        sends.push_back(pipe.isend(out[k], next, tag));
      }
      for (int k = 0; k < 6; ++k) {
        const int tag = k < 3 ? 0 : 1;
        pipe.irecv(in[k], prev, tag).wait();
        for (int i = 0; i < c; ++i)
          ASSERT_EQ(in[k][i], static_cast<float>(prev * 100000 + tag * 10000 + (k % 3) * 1000 + i)) << "k=" << k;
      }
      for (Request& r : sends) r.wait();
    }
    std::vector<float> x(1);
    EXPECT_THROW(pipe.send(x, next, Communicator::kMaxTag + 1), Error);
    EXPECT_THROW(pipe.recv(x, prev, -1), Error);
  });
}

// The embedding group holds the first and the last stage of this rank's pipeline (one rank when
// pipeline == 1); middle stages have none. Tied-embedding gradients: first contributes 1*(i+1),
// last 2*(i+1), the sum is 3*(i+1) (1*(i+1) with one stage); the first stage's weights reach the
// last by broadcast from group rank 0.
TEST(MpiPointToPoint, EmbeddingGroupLinksFirstAndLastStage) {
  for_each_layout([](const ParallelGroups& g) {
    const Topology& t = g.topology();
    const int P = t.pipeline_size();
    ASSERT_EQ(g.has_embedding(), t.pp_rank() == 0 || t.pp_rank() == P - 1);
    if (!g.has_embedding()) return;
    Communicator& emb = *g.embedding();
    ASSERT_EQ(emb.size(), P == 1 ? 1 : 2);
    EXPECT_EQ(emb.rank(), t.pp_rank() == 0 ? 0 : 1);
    const std::vector<int> expected = P == 1 ? std::vector<int>{world_rank()}
                                             : std::vector<int>{t.rank_of({t.tp_rank(), t.dp_rank(), 0}),
                                                                t.rank_of({t.tp_rank(), t.dp_rank(), P - 1})};
    EXPECT_EQ(t.embedding_group(), expected);
    for (int c : kCounts) {
      std::vector<float> grad(c), weight(c);
      for (int i = 0; i < c; ++i) {
        grad[i] = static_cast<float>((emb.rank() + 1) * (i + 1));
        weight[i] = emb.rank() == 0 ? static_cast<float>(world_rank() * 100 + i) : -1.f;
      }
      emb.all_reduce(grad);
      emb.broadcast(weight, 0);
      for (int i = 0; i < c; ++i) {
        ASSERT_EQ(grad[i], static_cast<float>((P == 1 ? 1 : 3) * (i + 1)));
        ASSERT_EQ(weight[i], static_cast<float>(expected[0] * 100 + i));
      }
    }
  });
}

}  // namespace
}  // namespace strata::test
