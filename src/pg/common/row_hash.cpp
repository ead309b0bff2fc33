#include "pg/common/row_hash.hpp"

#include <algorithm>

// XXH3 (Debian's libxxhash-dev, used header-only): a few nanoseconds per
// value where PostgreSQL's hash_bytes_extended takes tens, and a stable
// output since xxHash 0.8. Every row of every copy and collection is hashed.
#define XXH_INLINE_ALL
#include <xxhash.h>

extern "C" {
#include "access/htup_details.h"
#include "common/hashfn.h"
#include "fmgr.h"
}

namespace tdm::pg {

uint64 hash_values(const Datum *values, const bool *nulls, const HashedColumn *columns, int count) {
  uint64 hash = 0x7464'6d00'0000'0001ULL;
  for (int position = 0; position < count; ++position) {
    if (nulls[position]) {
      hash = hash_combine64(hash, 0x6e75'6c6cULL + static_cast<uint64>(position));
      continue;
    }
    const Datum value = values[position];
    const HashedColumn &column = columns[position];
    if (column.by_value) {
      // Only the type's own bytes: a 4-byte value reaches here sign-extended
      // from a table (fetch_att) but zero-extended from ObjectIdGetDatum.
      uint64 bits = static_cast<uint64>(value);
      if (column.length > 0 && column.length < 8) bits &= (uint64{1} << (8 * column.length)) - 1;
      hash = hash_combine64(hash, XXH3_64bits_withSeed(&bits, sizeof bits, position));
      continue;
    }
    const unsigned char *bytes;
    int length;
    if (column.length == -1) {
      auto *varlena = reinterpret_cast<struct varlena *>(DatumGetPointer(value));
      // Only compressed or out-of-line values need expanding; a short
      // header is read in place.
      if (VARATT_IS_COMPRESSED(varlena) || VARATT_IS_EXTERNAL(varlena)) {
        varlena = pg_detoast_datum_packed(varlena);
      }
      bytes = reinterpret_cast<const unsigned char *>(VARDATA_ANY(varlena));
      length = static_cast<int>(VARSIZE_ANY_EXHDR(varlena));
    } else if (column.length == -2) {
      bytes = reinterpret_cast<const unsigned char *>(DatumGetCString(value));
      length = static_cast<int>(strlen(DatumGetCString(value)));
    } else {
      bytes = reinterpret_cast<const unsigned char *>(DatumGetPointer(value));
      length = column.length;
    }
    hash = hash_combine64(hash, XXH3_64bits_withSeed(bytes, length, position));
  }
  return hash;
}

uint64 hash_row(const Datum *values, const bool *nulls, const HashedColumn *columns, int count) {
  if (count <= kHashChunk) return hash_values(values, nulls, columns, count);
  // At most MaxTupleAttributeNumber columns: 18 chunks of 90.
  constexpr int kMaxChunks = (MaxTupleAttributeNumber + kHashChunk - 1) / kHashChunk;
  Datum chunk_hashes[kMaxChunks];
  bool chunk_nulls[kMaxChunks] = {};
  HashedColumn chunk_columns[kMaxChunks];
  const int chunks = (count + kHashChunk - 1) / kHashChunk;
  for (int c = 0; c < chunks; ++c) {
    const int first = c * kHashChunk;
    const int length = std::min(kHashChunk, count - first);
    chunk_hashes[c] = Int64GetDatum(
        static_cast<int64>(hash_values(values + first, nulls + first, columns + first, length)));
    chunk_columns[c] = {8, true};
  }
  return hash_values(chunk_hashes, chunk_nulls, chunk_columns, chunks);
}

bool needs_detoasting(const Datum *values, const bool *nulls, const HashedColumn *columns,
                      int count) {
  for (int position = 0; position < count; ++position) {
    if (nulls[position] || columns[position].length != -1) continue;
    auto *varlena = reinterpret_cast<struct varlena *>(DatumGetPointer(values[position]));
    if (VARATT_IS_COMPRESSED(varlena) || VARATT_IS_EXTERNAL(varlena)) return true;
  }
  return false;
}

std::string RowHashTotal::checksum() const {
  if (sum == 0) return "0";
  const bool negative = sum < 0;
  unsigned __int128 magnitude =
      negative ? -static_cast<unsigned __int128>(sum) : static_cast<unsigned __int128>(sum);
  std::string digits;
  while (magnitude > 0) {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(magnitude % 10)));
    magnitude /= 10;
  }
  return negative ? "-" + digits : digits;
}

}  // namespace tdm::pg
