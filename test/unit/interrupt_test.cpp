// Unit tests of the core's cooperative cancellation.
#include <gtest/gtest.h>

#include <stdexcept>

#include "core/common/interrupt.hpp"

namespace tdm {
namespace {

int g_calls = 0;

struct Stop : std::runtime_error {
  Stop() : std::runtime_error("stop") {}
};

void stop_on_third_call() {
  if (++g_calls == 3) throw Stop();
}

TEST(Interrupts, WithoutACheckNothingHappens) {
  set_interrupt_check(nullptr);
  EXPECT_NO_THROW(check_interrupts());
}

TEST(Interrupts, TheInstalledCheckStopsALoopAndDestructorsRun) {
  g_calls = 0;
  int destroyed = 0;
  struct Guard {
    int *count;
    ~Guard() { ++*count; }
  };
  set_interrupt_check(stop_on_third_call);
  int iterations = 0;
  EXPECT_THROW(
      {
        for (;; ++iterations) {
          Guard guard{&destroyed};
          check_interrupts();
        }
      },
      Stop);
  set_interrupt_check(nullptr);
  EXPECT_EQ(iterations, 2);
  EXPECT_EQ(destroyed, 3);
}

}  // namespace
}  // namespace tdm
