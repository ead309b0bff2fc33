// The load's direct insert (load_rows.cpp): its transaction callbacks,
// which refuse to commit a direct load whose foreign keys are unchecked.
#pragma once

namespace tdm::pg {

// Registers the callbacks (in _PG_init).
void install_load_callbacks();

}  // namespace tdm::pg
