#include "pg/common/spi.hpp"

#include "pg/common/bridge.hpp"

extern "C" {
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
}

#include "core/common/error.hpp"
#include "core/common/interrupt.hpp"

namespace tdm::pg {

Param text_param(const std::string &value) {
  const char *data = value.c_str();
  text *datum = pg_call([data] { return cstring_to_text(data); });
  return Param{TEXTOID, PointerGetDatum(datum), false};
}

Param text_param(const std::optional<std::string> &value) {
  if (!value) return Param{TEXTOID, 0, true};
  return text_param(*value);
}

Param text_array_param(const std::vector<std::string> &values) {
  std::vector<Datum> elements;
  elements.reserve(values.size());
  for (const std::string &v : values) elements.push_back(text_param(v).value);
  Datum *items = elements.data();
  int count = static_cast<int>(elements.size());
  ArrayType *array =
      pg_call([items, count] { return construct_array(items, count, TEXTOID, -1, false, 'i'); });
  return Param{TEXTARRAYOID, PointerGetDatum(array), false};
}

Param oid_param(Oid type, Oid value) {
  return Param{type, ObjectIdGetDatum(value), false};
}

Param bool_param(bool value) {
  return Param{BOOLOID, BoolGetDatum(value), false};
}

Spi::Spi() {
  int rc = pg_call([] { return SPI_connect(); });
  if (rc != SPI_OK_CONNECT) throw Error(sqlstate::kInternalError, "SPI_connect failed");
}

Spi::~Spi() {
  // SPI_finish only reports through its return code.
  SPI_finish();
}

std::vector<Row> Spi::query(const std::string &sql, const std::vector<Param> &params,
                            bool read_only) {
  std::vector<Oid> types;
  std::vector<Datum> values;
  std::string nulls;
  for (const Param &p : params) {
    types.push_back(p.type);
    values.push_back(p.value);
    nulls.push_back(p.is_null ? 'n' : ' ');
  }
  const char *command = sql.c_str();
  int count = static_cast<int>(params.size());
  Oid *type_data = types.data();
  Datum *value_data = values.data();
  const char *null_data = nulls.c_str();
  int rc = pg_call([=] {
    return SPI_execute_with_args(command, count, type_data, value_data, null_data, read_only, 0);
  });
  if (rc < 0) throw Error(sqlstate::kInternalError, "SPI failed on: " + sql);

  std::vector<Row> rows;
  SPITupleTable *table = SPI_tuptable;
  if (table == nullptr) return rows;
  uint64 row_count = SPI_processed;
  int column_count = table->tupdesc->natts;
  rows.reserve(row_count);
  for (uint64 r = 0; r < row_count; ++r) {
    Row row;
    row.reserve(column_count);
    HeapTuple tuple = table->vals[r];
    for (int c = 1; c <= column_count; ++c) {
      char *chars = pg_call([=] { return SPI_getvalue(tuple, table->tupdesc, c); });
      row.push_back(chars == nullptr ? std::nullopt : std::optional<std::string>(chars));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::optional<std::string> Spi::value(const std::string &sql, const std::vector<Param> &params) {
  std::vector<Row> rows = query(sql, params);
  if (rows.empty() || rows.front().empty()) return std::nullopt;
  return rows.front().front();
}

void Spi::scan(const std::string &sql, const std::vector<Param> &params, long batch_rows,
               const BatchFn &on_batch) {
  std::vector<Oid> types;
  std::vector<Datum> values;
  std::string nulls;
  for (const Param &p : params) {
    types.push_back(p.type);
    values.push_back(p.value);
    nulls.push_back(p.is_null ? 'n' : ' ');
  }
  const char *command = sql.c_str();
  int count = static_cast<int>(params.size());
  Oid *type_data = types.data();
  Datum *value_data = values.data();
  const char *null_data = nulls.c_str();
  Portal portal = pg_call([=] {
    // Not read-only: the cursor must see rows this statement wrote before.
    return SPI_cursor_open_with_args(nullptr, command, count, type_data, value_data, null_data,
                                     false, 0);
  });
  ScratchContext scratch("tdm scan batch");
  for (;;) {
    check_interrupts();
    pg_call([=] { SPI_cursor_fetch(portal, true, batch_rows); });
    SPITupleTable *batch = SPI_tuptable;
    uint64 rows = SPI_processed;
    if (rows == 0) break;
    {
      ScratchContext::Use use(scratch);
      on_batch(batch, rows);
    }
    pg_call([=] { SPI_freetuptable(batch); });
  }
  pg_call([=] { SPI_cursor_close(portal); });
}

std::optional<std::string> text_value(SPITupleTable *batch, uint64 row, int column) {
  HeapTuple tuple = batch->vals[row];
  TupleDesc desc = batch->tupdesc;
  char *chars = pg_call([=] { return SPI_getvalue(tuple, desc, column); });
  if (chars == nullptr) return std::nullopt;
  return std::string(chars);
}

std::optional<Datum> datum_value(SPITupleTable *batch, uint64 row, int column) {
  bool is_null = false;
  Datum value = SPI_getbinval(batch->vals[row], batch->tupdesc, column, &is_null);
  if (is_null) return std::nullopt;
  return value;
}

TupleText::TupleText(TupleDesc desc, MemoryContext context)
    : output_(desc->natts),
      values_(desc->natts),
      nulls_(new bool[desc->natts]),
      texts_(new char *[desc->natts]) {
  // The descriptor and the output functions' state must outlive the batch
  // the first tuple came in: both live in `context`.
  desc_ = pg_call([=] {
    MemoryContext previous = MemoryContextSwitchTo(context);
    TupleDesc copy = CreateTupleDescCopy(desc);
    MemoryContextSwitchTo(previous);
    return copy;
  });
  for (int i = 0; i < desc->natts; ++i) {
    Oid type = TupleDescAttr(desc, i)->atttypid;
    FmgrInfo *info = &output_[i];
    pg_call([=] {
      Oid function;
      bool varlena;
      getTypeOutputInfo(type, &function, &varlena);
      fmgr_info_cxt(function, info, context);
    });
  }
}

void TupleText::read(HeapTuple tuple, int first, std::vector<std::optional<std::string>> &out) {
  const int natts = desc_->natts;
  Datum *values = values_.data();
  bool *nulls = nulls_.get();
  char **texts = texts_.get();
  FmgrInfo *output = output_.data();
  TupleDesc desc = desc_;
  pg_call([=] {
    heap_deform_tuple(tuple, desc, values, nulls);
    for (int i = first - 1; i < natts; ++i) {
      texts[i] = nulls[i] ? nullptr : OutputFunctionCall(&output[i], values[i]);
    }
  });
  for (int i = first - 1; i < natts; ++i) {
    out.push_back(texts[i] == nullptr ? std::nullopt : std::optional<std::string>(texts[i]));
  }
}

ScratchContext::ScratchContext(const char *name) {
  context_ = pg_call([=] {
    return AllocSetContextCreateInternal(CurrentMemoryContext, name, ALLOCSET_DEFAULT_SIZES);
  });
}

ScratchContext::~ScratchContext() {
  MemoryContextDelete(context_);
}

ScratchContext::Use::Use(ScratchContext &scratch)
    : scratch_(scratch), previous_(MemoryContextSwitchTo(scratch.context_)) {}

ScratchContext::Use::~Use() {
  MemoryContextSwitchTo(previous_);
  MemoryContextReset(scratch_.context_);
}

}  // namespace tdm::pg
