#include "pg/common/row_hash.hpp"

#include <algorithm>

// XXH3 (Debian's libxxhash-dev, used header-only): a few nanoseconds per
// value where PostgreSQL's hash_bytes_extended takes tens, and a stable
// output since xxHash 0.8. Every row of every copy and collection is hashed.
#define XXH_INLINE_ALL
#include <xxhash.h>

extern "C" {
#include "access/htup_details.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/multirangetypes.h"
#include "utils/rangetypes.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
}

namespace tdm::pg {
namespace {

constexpr uint64 kNullMark = 0x6e75'6c6cULL;

// Whether the stored form of `type`'s values holds object ids that a dump
// and restore renumber: an enum's value is its label's id; arrays, ranges
// and composites carry their (element) type's id.
bool holds_object_ids(Oid type) {
  const Oid base = getBaseType(type);
  switch (get_typtype(base)) {
    case TYPTYPE_ENUM:
    case TYPTYPE_COMPOSITE:
      return true;
    case TYPTYPE_RANGE:
      return base >= FirstNormalObjectId || holds_object_ids(get_range_subtype(base));
    case TYPTYPE_MULTIRANGE:
      return base >= FirstNormalObjectId ||
             holds_object_ids(get_range_subtype(get_multirange_range(base)));
    default:
      break;
  }
  const Oid element = get_element_type(base);
  return OidIsValid(element) && (element >= FirstNormalObjectId || holds_object_ids(element));
}

uint64 hash_value(Datum value, const HashedColumn &column, uint64 seed);

// A value of a type hashed by its parts (HashedColumn::by_parts): an enum
// by its label, an array by its shape and elements, a range by its flags
// and bounds, a composite by its fields. Allocates in the current memory
// context, which hash_values resets.
uint64 hash_parts(Datum value, Oid type, uint64 seed) {
  const Oid base = getBaseType(type);
  uint64 hash = seed ^ 0x7061'7274ULL;
  switch (get_typtype(base)) {
    case TYPTYPE_ENUM: {
      HeapTuple label = SearchSysCache1(ENUMOID, value);
      if (!HeapTupleIsValid(label))
        elog(ERROR, "no label of enum value %u", DatumGetObjectId(value));
      const char *text = NameStr(reinterpret_cast<Form_pg_enum>(GETSTRUCT(label))->enumlabel);
      hash = XXH3_64bits_withSeed(text, strlen(text), seed);
      ReleaseSysCache(label);
      return hash;
    }
    case TYPTYPE_COMPOSITE: {
      HeapTupleHeader header = DatumGetHeapTupleHeader(value);
      TupleDesc desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(header),
                                              HeapTupleHeaderGetTypMod(header));
      HeapTupleData tuple;
      tuple.t_len = HeapTupleHeaderGetDatumLength(header);
      ItemPointerSetInvalid(&tuple.t_self);
      tuple.t_tableOid = InvalidOid;
      tuple.t_data = header;
      auto *fields = static_cast<Datum *>(palloc(sizeof(Datum) * (desc->natts + 1)));
      auto *nulls = static_cast<bool *>(palloc(sizeof(bool) * (desc->natts + 1)));
      heap_deform_tuple(&tuple, desc, fields, nulls);
      // Fields by their place among the live ones: a restored type has no
      // dropped attributes.
      uint64 place = 0;
      for (int i = 0; i < desc->natts; ++i) {
        const Form_pg_attribute field = TupleDescAttr(desc, i);
        if (field->attisdropped) continue;
        hash = hash_combine64(
            hash, nulls[i] ? kNullMark + place
                           : hash_value(fields[i], hashed_column(field->atttypid), place));
        ++place;
      }
      ReleaseTupleDesc(desc);
      return hash;
    }
    case TYPTYPE_RANGE: {
      RangeType *range = DatumGetRangeTypeP(value);
      TypeCacheEntry *cache = lookup_type_cache(RangeTypeGetOid(range), TYPECACHE_RANGE_INFO);
      RangeBound lower;
      RangeBound upper;
      bool empty;
      range_deserialize(cache, range, &lower, &upper, &empty);
      const char flags = range_get_flags(range);
      hash = hash_combine64(hash, XXH3_64bits_withSeed(&flags, 1, seed));
      const HashedColumn bound = hashed_column(cache->rngelemtype->type_id);
      if (!empty && !lower.infinite) hash = hash_combine64(hash, hash_value(lower.val, bound, 1));
      if (!empty && !upper.infinite) hash = hash_combine64(hash, hash_value(upper.val, bound, 2));
      return hash;
    }
    case TYPTYPE_MULTIRANGE: {
      MultirangeType *multirange = DatumGetMultirangeTypeP(value);
      TypeCacheEntry *cache =
          lookup_type_cache(MultirangeTypeGetOid(multirange), TYPECACHE_MULTIRANGE_INFO);
      int32 count;
      RangeType **ranges;
      multirange_deserialize(cache->rngtype, multirange, &count, &ranges);
      for (int32 i = 0; i < count; ++i) {
        hash = hash_combine64(hash, hash_parts(RangeTypePGetDatum(ranges[i]),
                                               cache->rngtype->type_id, static_cast<uint64>(i)));
      }
      return hash;
    }
    default:
      break;
  }
  ArrayType *array = DatumGetArrayTypeP(value);
  const int dimensions = ARR_NDIM(array);
  hash = hash_combine64(hash, XXH3_64bits_withSeed(ARR_DIMS(array), sizeof(int) * dimensions, 1));
  hash = hash_combine64(hash, XXH3_64bits_withSeed(ARR_LBOUND(array), sizeof(int) * dimensions, 2));
  const HashedColumn element = hashed_column(ARR_ELEMTYPE(array));
  ArrayIterator elements = array_create_iterator(array, 0, nullptr);
  Datum item;
  bool null;
  for (uint64 i = 0; array_iterate(elements, &item, &null); ++i) {
    hash = hash_combine64(hash, null ? kNullMark + i : hash_value(item, element, i));
  }
  array_free_iterator(elements);
  return hash;
}

// One value: its type's bytes (only those: a 4-byte value reaches here
// sign-extended from a table, fetch_att, but zero-extended from
// ObjectIdGetDatum), or its parts.
uint64 hash_value(Datum value, const HashedColumn &column, uint64 seed) {
  if (OidIsValid(column.by_parts)) return hash_parts(value, column.by_parts, seed);
  if (column.by_value) {
    uint64 bits = static_cast<uint64>(value);
    if (column.length > 0 && column.length < 8) bits &= (uint64{1} << (8 * column.length)) - 1;
    return XXH3_64bits_withSeed(&bits, sizeof bits, seed);
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
  return XXH3_64bits_withSeed(bytes, length, seed);
}

// Where values hashed by their parts allocate; reset after each value.
MemoryContext parts_context() {
  static MemoryContext context = nullptr;
  if (context == nullptr) {
    context = AllocSetContextCreate(TopMemoryContext, "tdm row hash parts", ALLOCSET_SMALL_SIZES);
  }
  return context;
}

}  // namespace

HashedColumn hashed_column(Oid type) {
  HashedColumn column;
  get_typlenbyval(type, &column.length, &column.by_value);
  if (holds_object_ids(type)) column.by_parts = type;
  return column;
}

uint64 hash_values(const Datum *values, const bool *nulls, const HashedColumn *columns, int count) {
  uint64 hash = 0x7464'6d00'0000'0001ULL;
  for (int position = 0; position < count; ++position) {
    if (nulls[position]) {
      hash = hash_combine64(hash, kNullMark + static_cast<uint64>(position));
      continue;
    }
    if (OidIsValid(columns[position].by_parts)) {
      MemoryContext previous = MemoryContextSwitchTo(parts_context());
      hash = hash_combine64(hash, hash_value(values[position], columns[position], position));
      MemoryContextSwitchTo(previous);
      MemoryContextReset(parts_context());
      continue;
    }
    hash = hash_combine64(hash, hash_value(values[position], columns[position], position));
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

bool needs_postgres(const Datum *values, const bool *nulls, const HashedColumn *columns,
                    int count) {
  for (int position = 0; position < count; ++position) {
    if (nulls[position]) continue;
    if (OidIsValid(columns[position].by_parts)) return true;
    if (columns[position].length != -1) continue;
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
