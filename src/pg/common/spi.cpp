#include "pg/common/spi.hpp"

#include <algorithm>
#include <cstring>
#include <exception>

#include "pg/common/bridge.hpp"

extern "C" {
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "nodes/params.h"
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

std::string quote_ident(const std::string &name) {
  const char *raw = name.c_str();
  return pg_call([=] { return quote_identifier(raw); });
}

std::string quote_literal(const std::string &value) {
  const char *raw = value.c_str();
  return pg_call([=] { return quote_literal_cstr(raw); });
}

Spi::Spi() : uncaught_at_start_(std::uncaught_exceptions()) {
  int rc = pg_call([] { return SPI_connect(); });
  if (rc != SPI_OK_CONNECT) throw Error(sqlstate::kInternalError, "SPI_connect failed");
}

Spi::~Spi() {
  // While an exception unwinds, the statement is about to fail: an error
  // raised inside nested SPI (a PL/pgSQL function) may have left its own
  // connection on top of ours, and the transaction abort cleans up every
  // connection anyway. Otherwise SPI_finish only reports by return code.
  if (std::uncaught_exceptions() > uncaught_at_start_) return;
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
  // (the values' text freed row by row, the tuples once read: not held by
  // SPI to the end of the calling function)
  ScratchContext scratch("tdm query values");
  for (uint64 r = 0; r < row_count; ++r) {
    ScratchContext::Use use(scratch);
    Row row;
    row.reserve(column_count);
    HeapTuple tuple = table->vals[r];
    for (int c = 1; c <= column_count; ++c) {
      char *chars = pg_call([=] { return SPI_getvalue(tuple, table->tupdesc, c); });
      row.push_back(chars == nullptr ? std::nullopt : std::optional<std::string>(chars));
    }
    rows.push_back(std::move(row));
  }
  pg_call([=] { SPI_freetuptable(table); });
  return rows;
}

std::optional<std::string> Spi::value(const std::string &sql, const std::vector<Param> &params) {
  std::vector<Row> rows = query(sql, params);
  if (rows.empty() || rows.front().empty()) return std::nullopt;
  return rows.front().front();
}

namespace {

// A DestReceiver that hands each row to a C++ callback. The executor calls
// it through C function pointers: nothing may be thrown across them.
struct StreamReceiver {
  DestReceiver base;  // first: the executor sees a DestReceiver
  const Spi::RowFn *on_row;
  MemoryContext scratch;
  uint64 rows;
  std::exception_ptr error;
};

bool stream_receive(TupleTableSlot *slot, DestReceiver *self) noexcept {
  auto *receiver = reinterpret_cast<StreamReceiver *>(self);
  MemoryContext previous = CurrentMemoryContext;
  try {
    if ((receiver->rows & 1023) == 0) check_interrupts();
    MemoryContextSwitchTo(receiver->scratch);
    (*receiver->on_row)(slot);
    MemoryContextSwitchTo(previous);
    if ((++receiver->rows & 1023) == 0) MemoryContextReset(receiver->scratch);
    return true;
  } catch (...) {
    MemoryContextSwitchTo(previous);
    receiver->error = std::current_exception();
    return false;  // stops the executor
  }
}

void stream_startup(DestReceiver *, int, TupleDesc) noexcept {}
void stream_shutdown(DestReceiver *) noexcept {}
void stream_destroy(DestReceiver *) noexcept {}

}  // namespace

void Spi::stream(const std::string &sql, const std::vector<Param> &params, const RowFn &on_row) {
  ScratchContext scratch("tdm stream rows");
  StreamReceiver receiver{};
  receiver.base.receiveSlot = stream_receive;
  receiver.base.rStartup = stream_startup;
  receiver.base.rShutdown = stream_shutdown;
  receiver.base.rDestroy = stream_destroy;
  receiver.base.mydest = DestNone;
  receiver.on_row = &on_row;
  receiver.scratch = scratch.context();
  const char *command = sql.c_str();
  const int count = static_cast<int>(params.size());
  const Param *param_data = params.data();
  StreamReceiver *dest = &receiver;
  int rc = pg_call([=] {
    ParamListInfo list = nullptr;
    if (count > 0) {
      list = makeParamList(count);
      for (int i = 0; i < count; ++i) {
        list->params[i].value = param_data[i].value;
        list->params[i].isnull = param_data[i].is_null;
        list->params[i].pflags = PARAM_FLAG_CONST;
        list->params[i].ptype = param_data[i].type;
      }
    }
    SPIExecuteOptions options;
    memset(&options, 0, sizeof options);
    options.params = list;
    options.read_only = false;  // sees rows this statement wrote before
    options.dest = reinterpret_cast<DestReceiver *>(dest);
    return SPI_execute_extended(command, &options);
  });
  if (receiver.error) std::rethrow_exception(receiver.error);
  if (rc < 0) throw Error(sqlstate::kInternalError, "SPI failed on: " + sql);
}

void Spi::fetch(const std::string &table, std::vector<ItemPointerData> locations,
                const RowFn &on_row) {
  std::sort(locations.begin(), locations.end(),
            [](ItemPointerData a, ItemPointerData b) { return ItemPointerCompare(&a, &b) < 0; });
  const char *name = table.c_str();
  Relation relation = pg_call([=] {
    RangeVar *range = makeRangeVarFromNameList(stringToQualifiedNameList(name));
    return table_openrv(range, AccessShareLock);
  });
  // Released on every path; the lock stays until the transaction ends.
  struct Opened {
    Relation relation;
    TupleTableSlot *slot = nullptr;
    ~Opened() {
      if (slot != nullptr) ExecDropSingleTupleTableSlot(slot);
      table_close(relation, NoLock);
    }
  } opened{relation};
  opened.slot = pg_call([=] { return table_slot_create(relation, nullptr); });
  TupleTableSlot *slot = opened.slot;
  // Rows written by earlier commands of this transaction are visible.
  Snapshot snapshot = pg_call([] { return RegisterSnapshot(GetLatestSnapshot()); });
  struct Registered {
    Snapshot snapshot;
    ~Registered() { UnregisterSnapshot(snapshot); }
  } registered{snapshot};
  ScratchContext scratch("tdm fetched rows");
  std::size_t count = 0;
  for (ItemPointerData &location : locations) {
    if ((count++ & 1023) == 0) check_interrupts();
    ItemPointer tid = &location;
    const bool found =
        pg_call([=] { return table_tuple_fetch_row_version(relation, tid, snapshot, slot); });
    if (!found) throw Error(sqlstate::kInternalError, table + " changed while it was being read");
    ScratchContext::Use use(scratch);
    on_row(slot);
  }
}

std::optional<Datum> slot_value(TupleTableSlot *row, int column) {
  slot_getallattrs(row);
  if (row->tts_isnull[column - 1]) return std::nullopt;
  return row->tts_values[column - 1];
}

TupleText::TupleText(TupleDesc desc, MemoryContext context)
    : output_(desc->natts), texts_(new char *[desc->natts]) {
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

const char *const *TupleText::read(TupleTableSlot *row) {
  const int natts = static_cast<int>(output_.size());
  char **texts = texts_.get();
  FmgrInfo *output = output_.data();
  pg_call([=] {
    slot_getallattrs(row);
    for (int i = 0; i < natts; ++i) {
      texts[i] = row->tts_isnull[i] ? nullptr : OutputFunctionCall(&output[i], row->tts_values[i]);
    }
  });
  return texts;
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
