// Cooperative cancellation for long loops in the core. The host (the
// PostgreSQL adapter) installs a check that throws when a cancel, a
// statement_timeout or a terminate is pending; loops call check_interrupts()
// every so often, so their destructors run before the host reports it.
#pragma once

namespace tdm {

// Returns normally, or throws to stop the loop that called it.
using InterruptCheck = void (*)();

// Installs the check; nullptr means "never interrupted" (unit tests).
void set_interrupt_check(InterruptCheck check) noexcept;

// Runs the installed check, if any.
void check_interrupts();

}  // namespace tdm
