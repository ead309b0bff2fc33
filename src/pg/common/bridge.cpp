#include "pg/common/bridge.hpp"

#include <cstring>
#include <new>

#include "core/common/error.hpp"
#include "core/common/interrupt.hpp"

namespace tdm::pg {

const char *PgError::what() const noexcept {
  return data_->message != nullptr ? data_->message : "PostgreSQL error";
}

namespace detail {

void rethrow_as_pg_error(MemoryContext caller_context, sigjmp_buf *saved_stack,
                         ErrorContextCallback *saved_context_stack) {
  PG_exception_stack = saved_stack;
  error_context_stack = saved_context_stack;
  // CopyErrorData must not run in ErrorContext. The copy must outlive every
  // scratch context the exception unwinds through (they are deleted on the
  // way up), so it lives in the transaction's context, or the top context
  // outside a transaction; the entry point rethrows it at once.
  MemoryContextSwitchTo(TopTransactionContext != nullptr ? TopTransactionContext
                                                         : TopMemoryContext);
  ErrorData *data = CopyErrorData();
  FlushErrorState();
  MemoryContextSwitchTo(caller_context);
  throw PgError(data);
}

}  // namespace detail

namespace {

void check_pending_interrupts() {
  if (INTERRUPTS_PENDING_CONDITION()) pg_call([] { ProcessInterrupts(); });
}

// What escaped an entry point's body, kept in plain memory so that
// reporting it needs no C++ object alive.
struct Failure {
  ErrorData *pg_error = nullptr;
  int sqlstate = ERRCODE_INTERNAL_ERROR;
  const char *message = nullptr;
  const char *detail = nullptr;
  const char *hint = nullptr;
};

// Copies without ever raising: palloc_extended returns NULL on OOM instead
// of longjmp-ing out of a catch block.
const char *copy_text(const char *text) noexcept {
  if (text == nullptr || *text == '\0') return nullptr;
  size_t length = std::strlen(text);
  char *copy = static_cast<char *>(palloc_extended(length + 1, MCXT_ALLOC_NO_OOM));
  if (copy != nullptr) std::memcpy(copy, text, length + 1);
  return copy;
}

int sqlstate_from(const char *code) noexcept {
  if (code == nullptr || std::strlen(code) != 5) return ERRCODE_INTERNAL_ERROR;
  return MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4]);
}

[[noreturn]] void report(const Failure &failure) {
  if (failure.pg_error != nullptr) ReThrowError(failure.pg_error);
  ereport(ERROR, (errcode(failure.sqlstate),
                  errmsg("%s", failure.message != nullptr ? failure.message : "tdm internal error"),
                  failure.detail != nullptr ? errdetail("%s", failure.detail) : 0,
                  failure.hint != nullptr ? errhint("%s", failure.hint) : 0));
  pg_unreachable();
}

}  // namespace

void install_interrupt_check() noexcept {
  tdm::set_interrupt_check(check_pending_interrupts);
}

Datum call_entry(FunctionCallInfo fcinfo, EntryBody body) noexcept {
  MemoryContext entry_context = CurrentMemoryContext;
  Failure failure;
  try {
    return body(fcinfo);
  } catch (const PgError &e) {
    failure.pg_error = e.data();
  } catch (const tdm::Error &e) {
    MemoryContextSwitchTo(entry_context);
    failure.sqlstate = sqlstate_from(e.sqlstate());
    failure.message = copy_text(e.what());
    failure.detail = copy_text(e.detail().c_str());
    failure.hint = copy_text(e.hint().c_str());
  } catch (const std::bad_alloc &) {
    failure.sqlstate = ERRCODE_OUT_OF_MEMORY;
    failure.message = "out of memory in tdm";
  } catch (const std::exception &e) {
    MemoryContextSwitchTo(entry_context);
    failure.message = copy_text(e.what());
  } catch (...) {
    failure.message = "tdm internal error: unknown C++ exception";
  }
  // Every C++ frame of the body is unwound here; only now may PostgreSQL
  // longjmp.
  MemoryContextSwitchTo(entry_context);
  report(failure);
  pg_unreachable();
}

}  // namespace tdm::pg
