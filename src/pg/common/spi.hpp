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
#include "storage/itemptr.h"
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

// An identifier as SQL text, quoted where SQL would need it
// (quote_identifier).
std::string quote_ident(const std::string &name);
// A value as an SQL literal, for a hint's command (quote_literal_cstr).
std::string quote_literal(const std::string &value);

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

  // Runs a query and hands each result row to `on_row` as a slot, as the
  // executor produces it (no copy; a DestReceiver). PostgreSQL memory that
  // `on_row` allocates is freed every few rows; interrupts are checked. An
  // exception from `on_row` stops the query and is rethrown here.
  using RowFn = std::function<void(TupleTableSlot *row)>;
  void stream(const std::string &sql, const std::vector<Param> &params, const RowFn &on_row);

  // Reads the rows of `table` (a relation name) at `locations`, sorted first
  // so that pages are read in order, and hands each to `on_row` as
  // stream() does. A location whose row is gone is an error: the caller
  // found them earlier in this transaction.
  void fetch(const std::string &table, std::vector<ItemPointerData> locations, const RowFn &on_row);

 private:
  int uncaught_at_start_;
};

// A column (1-based) of a streamed row, deformed; nullopt for NULL.
std::optional<Datum> slot_value(TupleTableSlot *row, int column);

// Reads rows of one descriptor as text, calling the columns' output
// functions (looked up once) directly. Their state lives in `context`,
// which must outlive this object.
class TupleText {
 public:
  TupleText(TupleDesc desc, MemoryContext context);
  // Every column of `row` as a C string (nullptr for NULL), indexed from 0;
  // valid until the next read or until the caller's memory context resets.
  const char *const *read(TupleTableSlot *row);

 private:
  std::vector<FmgrInfo> output_;
  std::unique_ptr<char *[]> texts_;
};

// A memory context that is reset when the scope ends: for PostgreSQL
// allocations made in a loop.
class ScratchContext {
 public:
  explicit ScratchContext(const char *name);
  ~ScratchContext();
  ScratchContext(const ScratchContext &) = delete;
  MemoryContext context() const { return context_; }
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
