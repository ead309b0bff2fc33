// What the rollback's spare and swap share.
#pragma once

#include "pg/common/postgres.hpp"

extern "C" {
#include "utils/relcache.h"
}

namespace tdm::pg {

// Replacing a target's rows needs TRUNCATE and INSERT on it, whether by
// rows or by storage; an error otherwise. PostgreSQL-side.
void require_replace_rights(Relation target);

}  // namespace tdm::pg
