// ProfilingBackend (kernels/profiling_backend.h) and STRATA_PROFILE_OPS: training through the wrapper is bit
// for bit the unwrapped run, the per-op call counts and FLOPs are those of the model's shape, the report
// lists them, and choose_backend wraps the backend only when STRATA_PROFILE_OPS=1.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/profiling_backend.h"
#include "src/batch_source.h"
#include "src/device_select.h"
#include "src/trainer.h"
#include "test_util.h"

namespace strata {
namespace {

constexpr int kSteps = 2;

Config tiny_config(const std::string& precision) {
  Config c;
  c.model = {2, 32, 4, 16, 257};
  c.train.micro_batch = 2;
  c.train.global_batch = 6;  // 3 micro-batches per step
  c.train.steps = kSteps;
  c.train.precision = precision;
  return c;
}

struct RunResult {
  std::vector<double> losses, grad_norms;
  std::vector<float> params;
};

// kSteps training steps on `be`; `before_steps` runs after the trainer is built (to reset a profile).
template <typename F>
RunResult train(const Config& cfg, Backend& be, F&& before_steps) {
  Trainer trainer(cfg, be, make_synthetic_source(cfg.model.seq_len, cfg.model.vocab_size, cfg.train.seed), nullptr,
                  1e12);
  before_steps();
  RunResult r;
  for (int i = 0; i < kSteps; ++i) {
    const StepMetrics m = trainer.step();
    r.losses.push_back(m.loss);
    r.grad_norms.push_back(m.grad_norm);
  }
  r.params = trainer.model().get_parameters();
  return r;
}

class ProfiledTraining : public ::testing::TestWithParam<std::string> {};

TEST_P(ProfiledTraining, IsBitIdenticalAndCountsTheModelsOps) {
  const std::string precision = GetParam();
  const Config cfg = tiny_config(precision);
  auto plain = make_cpu_backend();
  const RunResult expected = train(cfg, *plain, [] {});
  ProfilingBackend prof(make_cpu_backend());
  EXPECT_EQ(prof.kind(), DeviceKind::cpu);
  EXPECT_EQ(prof.name(), plain->name());
  const RunResult got = train(cfg, prof, [&] { prof.reset(); });
  EXPECT_EQ(got.losses, expected.losses);
  EXPECT_EQ(got.grad_norms, expected.grad_norms);
  EXPECT_EQ(got.params, expected.params);

  // Per micro-batch: 4 linear layers per block (qkv, attention projection, fc, fc projection) + the output
  // projection, each one forward and one backward GEMM; one attention forward and backward per block.
  const GptShape shape = cfg.shape();
  const int layers = shape.layers, c = shape.hidden, bt = cfg.train.micro_batch * shape.seq_len;
  const int64_t micro = static_cast<int64_t>(kSteps) * (cfg.train.global_batch / cfg.train.micro_batch);
  const std::string suffix = precision == "bf16" ? "_bf16" : "";
  // bf16 runs the MLP's fc GEMM and GELU as one op, and the fc projection's backward GEMM and GELU backward
  // as another: they count with the GEMMs.
  auto gemms = [&](const std::string& unfused, const std::string& fused) {
    ProfilingBackend::OpStats s = prof.stats(unfused + suffix);
    if (precision != "bf16") return s;
    const ProfilingBackend::OpStats f = prof.stats(fused);
    EXPECT_EQ(f.calls, micro * layers) << fused;
    s.calls += f.calls;
    s.flops += f.flops;
    s.seconds += f.seconds;
    return s;
  };
  const ProfilingBackend::OpStats fwd = gemms("matmul_forward", "matmul_gelu_forward_bf16");
  const ProfilingBackend::OpStats bwd = gemms("matmul_backward", "matmul_dgelu_backward_bf16");
  EXPECT_EQ(prof.stats("gelu_forward").calls, precision == "bf16" ? 0 : micro * layers);
  EXPECT_EQ(prof.stats("gelu_backward").calls, precision == "bf16" ? 0 : micro * layers);
  EXPECT_EQ(fwd.calls, micro * (4 * layers + 1));
  EXPECT_EQ(bwd.calls, micro * (4 * layers + 1));
  EXPECT_EQ(prof.stats(precision == "bf16" ? "matmul_forward" : "matmul_forward_bf16").calls, 0);
  // Forward FLOPs 2*N*C*OC per GEMM: a block's GEMMs have C*3C + C*C + C*4C + 4C*C = 12 C^2 weights.
  const double forward_flops =
      micro * (2.0 * bt * 12.0 * c * c * layers + 2.0 * bt * c * static_cast<double>(shape.padded_vocab()));
  EXPECT_DOUBLE_EQ(fwd.flops, forward_flops);
  // Every backward GEMM of the model computes dinp (each feeds the gradient of the layer below): 2x forward.
  EXPECT_DOUBLE_EQ(bwd.flops, 2.0 * forward_flops);
  EXPECT_GT(fwd.seconds, 0.0);
  EXPECT_GT(bwd.seconds, 0.0);

  const ProfilingBackend::OpStats att = prof.stats("attention_forward" + suffix);
  const ProfilingBackend::OpStats att_bwd = prof.stats("attention_backward" + suffix);
  EXPECT_EQ(att.calls, micro * layers);
  EXPECT_EQ(att_bwd.calls, micro * layers);
  EXPECT_EQ(prof.stats(precision == "bf16" ? "attention_forward" : "attention_forward_bf16").calls, 0);
  const double t = shape.seq_len;
  EXPECT_DOUBLE_EQ(att.flops, micro * layers * 2.0 * 2.0 * cfg.train.micro_batch * shape.heads * shape.head_size() *
                                  t * (t + 1) / 2.0);
  EXPECT_DOUBLE_EQ(att_bwd.flops, 2.5 * att.flops);
  EXPECT_GT(att.seconds, 0.0);
  EXPECT_EQ(prof.stats("layernorm_forward" + suffix).calls, micro * (2 * layers + 1));
  EXPECT_EQ(prof.stats(precision == "bf16" ? "layernorm_forward" : "layernorm_forward_bf16").calls, 0);
  EXPECT_EQ(prof.stats("adamw_update").calls, kSteps);
  EXPECT_EQ(prof.stats("to_bf16").calls > 0, precision == "bf16");

  const std::string report = profile_report(prof, kSteps);
  EXPECT_NE(report.find("synchronize"), std::string::npos) << report;
  EXPECT_NE(report.find("ms/step"), std::string::npos) << report;
  const std::size_t row = report.find("\n  matmul_forward" + suffix + " ");
  ASSERT_NE(row, std::string::npos) << report;
  std::istringstream fields(report.substr(row, report.find('\n', row + 1) - row));
  std::string op;
  int64_t calls = 0;
  fields >> op >> calls;
  EXPECT_EQ(calls, prof.stats("matmul_forward" + suffix).calls) << report;
  EXPECT_NE(report.find("attention_backward" + suffix), std::string::npos) << report;
  EXPECT_EQ(profile_report(prof).find("ms/step"), std::string::npos);  // no step count: no per-step column
  std::printf("%s", report.c_str());

  prof.reset();
  EXPECT_EQ(prof.stats("matmul_forward" + suffix).calls, 0);
  EXPECT_TRUE(prof.all_stats().empty());
}

INSTANTIATE_TEST_SUITE_P(Precisions, ProfiledTraining, ::testing::Values("fp32", "bf16"));

TEST(ProfilingBackend, GemmBackwardWithoutDinpCountsOnlyTheWeightGradient) {
  ProfilingBackend prof(make_cpu_backend());
  const int n = 3, c = 5, oc = 7;
  std::vector<float> dout(n * oc, 1.f), inp(n * c, 1.f), w(oc * c, 1.f), dw(oc * c, 0.f), dinp(n * c, 0.f);
  // The CPU backend's device pointers are host pointers.
  prof.matmul_backward(nullptr, dw.data(), nullptr, dout.data(), inp.data(), w.data(), n, c, oc);
  EXPECT_DOUBLE_EQ(prof.stats("matmul_backward").flops, 2.0 * n * c * oc);
  prof.matmul_backward(dinp.data(), dw.data(), nullptr, dout.data(), inp.data(), w.data(), n, c, oc);
  EXPECT_DOUBLE_EQ(prof.stats("matmul_backward").flops, 2.0 * n * c * oc + 4.0 * n * c * oc);
  EXPECT_EQ(prof.stats("matmul_backward").calls, 2);
  EXPECT_EQ(dinp[0], static_cast<float>(oc));  // forwarded: dinp = dout @ w
  // Memory ops are ops too; allocate/deallocate are not timed.
  void* p = prof.allocate(64);
  prof.fill_zero(p, 64);
  prof.copy_to_device(p, w.data(), 16);
  prof.copy_to_host(dinp.data(), p, 16);
  prof.deallocate(p);
  EXPECT_EQ(prof.stats("fill_zero").calls, 1);
  EXPECT_EQ(prof.stats("copy_to_device").calls, 1);
  EXPECT_EQ(prof.stats("copy_to_host").calls, 1);
  EXPECT_EQ(dinp[0], 1.f);
  EXPECT_EQ(prof.all_stats().size(), 4u);
}

TEST(ProfilingBackend, ReportIsEmptyAndUnprofiledIsItselfForAPlainBackend) {
  auto plain = make_cpu_backend();
  EXPECT_EQ(profile_report(*plain), "");
  profile_reset(*plain);  // no-op
  EXPECT_EQ(&unprofiled(*plain), plain.get());
  auto wrapped = make_profiling_backend(make_cpu_backend());
  EXPECT_NE(&unprofiled(*wrapped), wrapped.get());
  EXPECT_EQ(unprofiled(*wrapped).kind(), DeviceKind::cpu);
}

// Sets STRATA_PROFILE_OPS for one scope and restores the previous value.
class ProfileOpsEnv {
 public:
  explicit ProfileOpsEnv(const char* value) {
    if (const char* old = std::getenv("STRATA_PROFILE_OPS")) old_ = old, had_ = true;
    if (value != nullptr) setenv("STRATA_PROFILE_OPS", value, 1);
    else unsetenv("STRATA_PROFILE_OPS");
  }
  ~ProfileOpsEnv() {
    if (had_) setenv("STRATA_PROFILE_OPS", old_.c_str(), 1);
    else unsetenv("STRATA_PROFILE_OPS");
  }

 private:
  std::string old_;
  bool had_ = false;
};

TEST(ProfileOpsEnv, WrapsTheChosenBackendOnlyWhenSetToOne) {
  for (const char* off : {static_cast<const char*>(nullptr), "", "0"}) {
    ProfileOpsEnv env(off);
    const BackendChoice choice = choose_backend(0, "cpu", false);
    EXPECT_EQ(dynamic_cast<ProfilingBackend*>(choice.backend.get()), nullptr) << (off ? off : "(unset)");
    EXPECT_EQ(choice.reason.find("op profiling"), std::string::npos) << choice.reason;
  }
  {
    ProfileOpsEnv env("1");
    const BackendChoice choice = choose_backend(0, "cpu", false);
    ASSERT_NE(dynamic_cast<ProfilingBackend*>(choice.backend.get()), nullptr);
    EXPECT_EQ(choice.backend->kind(), DeviceKind::cpu);
    EXPECT_EQ(choice.reason, "cpu (STRATA_BACKEND=cpu) (op profiling on)");
  }
  ProfileOpsEnv env("yes");
  test::expect_error([] { choose_backend(0, "cpu", false); }, ErrorKind::config, {"STRATA_PROFILE_OPS", "'yes'"});
}

}  // namespace
}  // namespace strata
