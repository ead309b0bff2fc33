#include "core/common/interrupt.hpp"

namespace tdm {

namespace {
InterruptCheck g_check = nullptr;  // a plain pointer: no global destructor
}

void set_interrupt_check(InterruptCheck check) noexcept {
  g_check = check;
}

void check_interrupts() {
  if (g_check != nullptr) g_check();
}

}  // namespace tdm
