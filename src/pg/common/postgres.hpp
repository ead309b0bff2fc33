// The one place tdm includes PostgreSQL's core headers: C linkage, and
// postgres.h first as PostgreSQL requires.
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}
