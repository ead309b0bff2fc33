// SPI from C++: a connection that is released by its destructor, queries
// with parameters only (values are never pasted into SQL), and results
// copied into C++ values. Every PostgreSQL call goes through pg_call.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pg/common/postgres.hpp"

extern "C" {
#include "executor/spi.h"
}

namespace tdm::pg {

// One query parameter: its type and its value as a Datum.
struct Param {
  Oid type;
  Datum value;
  bool is_null;
};

Param text_param(const std::string &value);
Param text_param(const std::optional<std::string> &value);
Param text_array_param(const std::vector<std::string> &values);
Param oid_param(Oid type, Oid value);
Param bool_param(bool value);

// The rows of the last query, as text (NULL as nullopt).
using Row = std::vector<std::optional<std::string>>;

class Spi {
 public:
  Spi();
  ~Spi();
  Spi(const Spi &) = delete;
  Spi &operator=(const Spi &) = delete;

  // Runs one statement; returns its rows (empty for statements without).
  std::vector<Row> query(const std::string &sql, const std::vector<Param> &params = {},
                         bool read_only = false);

  // Runs one statement and returns its first column of its only row.
  std::optional<std::string> value(const std::string &sql, const std::vector<Param> &params = {});

  // Runs a query through a cursor, `batch_rows` rows at a time. `on_batch`
  // sees each batch; what it allocates in PostgreSQL memory is freed after
  // the batch (a per-batch memory context), and interrupts are checked.
  using BatchFn = std::function<void(SPITupleTable *batch, uint64 rows)>;
  void scan(const std::string &sql, const std::vector<Param> &params, long batch_rows,
            const BatchFn &on_batch);
};

// A column of a cursor batch as text (output function); nullopt for NULL.
std::optional<std::string> text_value(SPITupleTable *batch, uint64 row, int column);

// A column of a cursor batch as its Datum (no conversion); nullopt for NULL.
std::optional<Datum> datum_value(SPITupleTable *batch, uint64 row, int column);

// Reads tuples of one descriptor as text, deforming each tuple once and
// calling the columns' output functions (looked up once) directly. Its
// state lives in `context`, which must outlive it.
class TupleText {
 public:
  TupleText(TupleDesc desc, MemoryContext context);
  // Column `first`.. (1-based) of `tuple`, as text; nullopt for NULL.
  void read(HeapTuple tuple, int first, std::vector<std::optional<std::string>> &out);

 private:
  TupleDesc desc_;
  std::vector<FmgrInfo> output_;
  std::vector<Datum> values_;
  std::unique_ptr<bool[]> nulls_;
  std::unique_ptr<char *[]> texts_;
};

// A memory context that is reset when the scope ends: for PostgreSQL
// allocations made in a loop.
class ScratchContext {
 public:
  explicit ScratchContext(const char *name);
  ~ScratchContext();
  ScratchContext(const ScratchContext &) = delete;
  ScratchContext &operator=(const ScratchContext &) = delete;

  // Switches to the context; the returned guard switches back and resets.
  class Use {
   public:
    explicit Use(ScratchContext &scratch);
    ~Use();
    Use(const Use &) = delete;
    Use &operator=(const Use &) = delete;

   private:
    ScratchContext &scratch_;
    MemoryContext previous_;
  };

 private:
  MemoryContext context_;
};

}  // namespace tdm::pg
