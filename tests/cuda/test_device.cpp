// CUDA device discovery. Without a GPU every test here is skipped with the reason (ctest: skipped).
#include <gtest/gtest.h>

#include "kernels/cuda/device.h"

TEST(CudaDevice, DescribesToolchainAndDevices) {
  const std::string text = strata::cuda::describe_devices();
  EXPECT_NE(text.find("NCCL"), std::string::npos) << text;
  if (strata::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device visible: " << text;
  EXPECT_NE(text.find("0: "), std::string::npos) << text;
}
