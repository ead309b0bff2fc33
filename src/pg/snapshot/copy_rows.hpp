// Copying a table's rows into another table while hashing them (the
// snapshot's copy, and the rollback's spare built from it).
#pragma once

#include <vector>

#include "pg/common/postgres.hpp"

extern "C" {
#include "utils/relcache.h"
}

namespace tdm::pg {

struct CopiedRows {
  int64 rows;
  __int128 sum;  // of the row hashes: tdm._release_checksum's total
};

// Copies every row of `source` into `storage`, whose live columns are the
// source's live columns in order (either may have dropped columns), with
// table_multi_insert `insert_options`; hashes the `hashed` attribute
// numbers of the source on the way. PostgreSQL-side: call under pg_call.
CopiedRows copy_rows(Oid source, Relation storage, const int16 *hashed, int hashed_count,
                     int insert_options);

// The function's result record: `leading` values, then row_count and
// checksum.
Datum copied_rows_datum(FunctionCallInfo fcinfo, const CopiedRows &copied,
                        const std::vector<Datum> &leading);

}  // namespace tdm::pg
