// Collection's running row counts and checksums per environment slot
// (tdm._collect_totals() returns and clears them), against which the
// release lock is checked.
#pragma once

#include "pg/common/postgres.hpp"

namespace tdm::pg {

// Environment slots are numbered 1..kCollectSlots.
constexpr int kCollectSlots = 256;

// Adds a collected row's hash to the totals of `slot` (1-based, checked by
// the caller).
void add_to_collect_total(int slot, uint64 hash);

}  // namespace tdm::pg
