// A byte budget for C++ working sets (tdm.work_mem). Stages ask before they
// grow; a stage that does not fit partitions its work instead.
#pragma once

#include <algorithm>
#include <cstddef>

namespace tdm {

class MemoryBudget {
 public:
  explicit MemoryBudget(std::size_t limit_bytes) : limit_(limit_bytes) {}

  std::size_t limit() const noexcept { return limit_; }
  bool fits(std::size_t bytes) const noexcept { return bytes <= limit_; }

  // How many partitions make `bytes` fit, each partition holding an equal
  // share (at least 1).
  std::size_t partitions_for(std::size_t bytes) const noexcept { return partitions_for(bytes, 0); }

  // The same while `held` bytes of the budget stay taken through every
  // partition (detection's candidates): each partition gets what is left,
  // and never less than a quarter of the budget (held is within it).
  std::size_t partitions_for(std::size_t bytes, std::size_t held) const noexcept {
    if (limit_ == 0) return 1;
    const std::size_t left = held < limit_ ? limit_ - held : 0;
    const std::size_t room = std::max<std::size_t>({left, limit_ / 4, 1});
    std::size_t parts = (bytes + room - 1) / room;
    return parts == 0 ? 1 : parts;
  }

 private:
  std::size_t limit_;
};

}  // namespace tdm
