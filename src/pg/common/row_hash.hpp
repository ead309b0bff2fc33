// The row hash of tdm: 64 bits over the values' binary form (no output
// functions, so independent of TimeZone and DateStyle), or over their
// parts where that form holds object ids (so the same after a dump and
// restore). Locks, snapshots and loads sum it per table into an
// order-independent checksum.
#pragma once

#include <string>

#include "pg/common/postgres.hpp"

namespace tdm::pg {

// A function takes at most 100 arguments: rows wider than this are hashed
// in chunks of this many columns, then the chunks' hashes (see
// tdm._hash_args, which spells the same in SQL).
constexpr int kHashChunk = 90;

struct HashedColumn {
  int16 length;
  bool by_value;
  // A type whose stored form holds object ids that a dump and restore
  // renumber (an enum's value, an array's element type, a composite's or
  // a range's own type): its values are hashed by their parts instead
  // (an enum by its label). InvalidOid for every other type.
  Oid by_parts = InvalidOid;
};

// The facts hash_values needs of a column of `type`. Reads the catalog:
// runs under pg_call or in PostgreSQL's own frames.
HashedColumn hashed_column(Oid type);

// The hash of `count` values. Calls PostgreSQL (detoasting, the parts of
// a value hashed by its parts), so it runs under pg_call or in
// PostgreSQL's own frames, unless needs_postgres() says no value needs it.
uint64 hash_values(const Datum *values, const bool *nulls, const HashedColumn *columns, int count);

// The hash of a whole row of `count` values: hash_values itself up to
// kHashChunk values, else the hash of the hashes of its chunks (as
// tdm._hash_args spells it in SQL). Same calling rules as hash_values.
uint64 hash_row(const Datum *values, const bool *nulls, const HashedColumn *columns, int count);

// Whether hash_values calls PostgreSQL for these values: to expand one
// compressed or stored out of line, or to read one hashed by its parts.
bool needs_postgres(const Datum *values, const bool *nulls, const HashedColumn *columns, int count);

// A running count and sum of row hashes, and the sum as decimal text.
struct RowHashTotal {
  int64 rows = 0;
  __int128 sum = 0;
  void add(uint64 hash) {
    rows += 1;
    sum += static_cast<int64>(hash);
  }
  std::string checksum() const;
};

}  // namespace tdm::pg
