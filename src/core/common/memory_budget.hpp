// A byte budget for C++ working sets (tdm.work_mem). Stages ask before they
// grow; a stage that does not fit partitions its work instead.
#pragma once

#include <cstddef>

namespace tdm {

class MemoryBudget {
 public:
  explicit MemoryBudget(std::size_t limit_bytes) : limit_(limit_bytes) {}

  std::size_t limit() const noexcept { return limit_; }
  bool fits(std::size_t bytes) const noexcept { return bytes <= limit_; }

  // How many partitions make `bytes` fit, each partition holding an equal
  // share (at least 1).
  std::size_t partitions_for(std::size_t bytes) const noexcept {
    if (limit_ == 0) return 1;
    std::size_t parts = (bytes + limit_ - 1) / limit_;
    return parts == 0 ? 1 : parts;
  }

 private:
  std::size_t limit_;
};

}  // namespace tdm
