// Live progress of running jobs (shared memory registry behind tdm.progress).
#pragma once

namespace tdm::pg {

// Called from _PG_init: asks for the registry's shared memory when tdm is
// preloaded, and gives slots back at the end of each transaction.
void install_progress_registry(bool preloading);

}  // namespace tdm::pg
