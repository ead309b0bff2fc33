// The error bridge between C++ and PostgreSQL, one guard per direction.
//
//  * PostgreSQL called from C++: pg_call(f) runs f under its own sigsetjmp,
//    so an ereport(ERROR) inside f comes back as a C++ PgError exception and
//    the C++ frames above unwind normally (destructors run).
//  * C++ called from PostgreSQL: every fmgr entry point is defined with
//    TDM_FUNCTION, whose body runs inside try/catch; whatever escapes is
//    reported with ereport(ERROR) only after every C++ frame is gone.
#pragma once

#include <exception>
#include <type_traits>

#include "pg/common/postgres.hpp"

namespace tdm::pg {

// A PostgreSQL error caught by pg_call. The ErrorData is a copy in the
// transaction's memory context, so it survives the unwinding.
class PgError : public std::exception {
 public:
  explicit PgError(ErrorData *data) noexcept : data_(data) {}
  const char *what() const noexcept override;
  ErrorData *data() const noexcept { return data_; }
  int sqlerrcode() const noexcept { return data_->sqlerrcode; }

 private:
  ErrorData *data_;
};

namespace detail {
// Called right after the longjmp landed: restores the caller's state, copies
// the error and throws it as PgError.
[[noreturn]] void rethrow_as_pg_error(MemoryContext caller_context, sigjmp_buf *saved_stack,
                                      ErrorContextCallback *saved_context_stack);
}  // namespace detail

// Runs f, which calls PostgreSQL and must own no C++ resources itself, and
// turns a PostgreSQL ERROR raised inside it into PgError. The result is
// returned by value, so it must be trivially copyable (a pointer, a Datum).
template <typename F>
auto pg_call(F &&f) -> decltype(f()) {
  using Result = decltype(f());
  static_assert(std::is_void_v<Result> || std::is_trivially_copyable_v<Result>,
                "pg_call returns plain values only");
  MemoryContext caller_context = CurrentMemoryContext;
  sigjmp_buf *saved_stack = PG_exception_stack;
  ErrorContextCallback *saved_context_stack = error_context_stack;
  sigjmp_buf local;
  if (sigsetjmp(local, 0) != 0) {
    detail::rethrow_as_pg_error(caller_context, saved_stack, saved_context_stack);
  }
  PG_exception_stack = &local;
  // (f is not to throw; if it does, PostgreSQL's stacks are the caller's
  // again before the exception goes on, not a dead jump buffer.)
  try {
    if constexpr (std::is_void_v<Result>) {
      f();
      PG_exception_stack = saved_stack;
      error_context_stack = saved_context_stack;
    } else {
      Result result = f();
      PG_exception_stack = saved_stack;
      error_context_stack = saved_context_stack;
      return result;
    }
  } catch (...) {
    PG_exception_stack = saved_stack;
    error_context_stack = saved_context_stack;
    throw;
  }
}

// Installs the interrupt check the core's long loops call (in _PG_init).
void install_interrupt_check() noexcept;

using EntryBody = Datum (*)(FunctionCallInfo);

// Runs an entry point's body and reports any exception as an ERROR once
// the body's frames have unwound. Never returns on failure.
Datum call_entry(FunctionCallInfo fcinfo, EntryBody body) noexcept;

}  // namespace tdm::pg

// Defines the SQL-callable C function `name`; the block that follows is its
// C++ body, which may throw.
#define TDM_FUNCTION(name)                                            \
  static Datum name##_body([[maybe_unused]] FunctionCallInfo fcinfo); \
  extern "C" {                                                        \
  PG_FUNCTION_INFO_V1(name);                                          \
  }                                                                   \
  extern "C" Datum name(PG_FUNCTION_ARGS) {                           \
    return tdm::pg::call_entry(fcinfo, name##_body);                  \
  }                                                                   \
  static Datum name##_body([[maybe_unused]] FunctionCallInfo fcinfo)
