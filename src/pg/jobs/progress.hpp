// Live progress of running jobs (shared memory registry behind tdm.progress).
#pragma once

#include <cstdint>

namespace tdm::pg {

// Called from _PG_init: asks for the registry's shared memory when tdm is
// preloaded, and gives slots back at the end of each transaction.
void install_progress_registry(bool preloading);

// Whether tdm.cancel_job asked this backend's job to stop (read by a
// worker before its transaction's end gives the slot back).
bool job_cancel_requested(std::int64_t job_id);

// Adds `rows` to the rows done of this backend's running job, in the phase
// it is in (collection and the load count rows as they go; their totals
// are set by tdm._progress). Takes the registry's spinlock: callers add a
// batch at a time, not each row.
void add_rows_done(std::int64_t rows) noexcept;

// How many rows a loop lets pass between two add_rows_done calls.
constexpr std::int64_t kRowsPerProgressStep = 8192;

}  // namespace tdm::pg
