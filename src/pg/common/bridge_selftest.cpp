// Diagnostics that prove the error bridge from SQL (test/pgtap/bridge.sql,
// sql/bridge.sql). Superuser-only: the extension script revokes them from
// PUBLIC.
#include <stdexcept>
#include <string>
#include <vector>

#include "core/common/error.hpp"
#include "core/common/interrupt.hpp"
#include "pg/common/args.hpp"
#include "pg/common/bridge.hpp"
#include "pg/common/spi.hpp"

extern "C" {
#include "utils/builtins.h"
}

namespace {

// Counts destructor runs, so a test can see that unwinding happened.
int64 g_sentinels_destroyed = 0;  // plain integer: no global destructor

struct Sentinel {
  std::vector<int> payload = std::vector<int>(1024);  // owns heap memory
  ~Sentinel() { ++g_sentinels_destroyed; }
};

}  // namespace

// tdm._bridge_raise(kind): raises from C++ ('domain', 'std', 'bad_alloc',
// 'unknown') or from PostgreSQL inside C++ ('postgres', and 'stream' inside
// a streamed row callback), with Sentinels alive in the frames unwound.
TDM_FUNCTION(tdm_bridge_raise) {
  const std::string kind = tdm::pg::text_arg(fcinfo, 0, "kind");
  Sentinel sentinel;
  if (kind == "domain") {
    throw tdm::Error(tdm::sqlstate::kInvalidParameterValue, "bridge self-test: domain error",
                     "raised by C++ code", "nothing to do: this is a test");
  }
  if (kind == "std") throw std::runtime_error("bridge self-test: std::runtime_error");
  if (kind == "bad_alloc") throw std::bad_alloc();
  if (kind == "unknown") throw 42;
  if (kind == "postgres") {
    tdm::pg::Spi spi;
    Sentinel inner;
    spi.query("SELECT 1 / 0");
  }
  if (kind == "stream") {
    // A PostgreSQL error raised inside a row callback of a streamed query:
    // it crosses the executor, the DestReceiver and a deleted scratch
    // context before it is reported.
    tdm::pg::Spi spi;
    spi.stream("SELECT g FROM generate_series(1, 5) AS g", {}, [](TupleTableSlot *row) {
      Sentinel per_row;
      auto g = tdm::pg::slot_value(row, 1);
      if (g && DatumGetInt32(*g) == 3) {
        tdm::pg::pg_call([] { return DirectFunctionCall1(int4in, CStringGetDatum("three")); });
      }
    });
  }
  throw tdm::Error(tdm::sqlstate::kInvalidParameterValue, "unknown self-test kind \"" + kind + "\"",
                   {}, "Use domain, std, bad_alloc, unknown or postgres.");
}

// tdm._bridge_sentinels(): how many Sentinels this backend has destroyed.
TDM_FUNCTION(tdm_bridge_sentinels) {
  PG_RETURN_INT64(g_sentinels_destroyed);
}

// tdm._bridge_spin(iterations): a long C++ loop that honours cancel; each
// iteration owns heap memory. Returns the iterations done.
TDM_FUNCTION(tdm_bridge_spin) {
  const int64 iterations = PG_GETARG_INT64(0);
  int64 done = 0;
  Sentinel outer;
  for (; done < iterations; ++done) {
    std::vector<int64> work(64, done);
    if ((done & 1023) == 0) tdm::check_interrupts();
  }
  PG_RETURN_INT64(done);
}
