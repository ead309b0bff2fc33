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

}  // namespace tdm::pg
