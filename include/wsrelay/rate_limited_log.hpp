#pragma once
// At most one log line per second for a repeating condition, with the count
// of the repeats it swallowed. Not thread-safe: one per thread of use.
#include <chrono>
#include <cstdint>
#include <utility>

namespace wsrelay {

class RateLimitedLog {
 public:
  // True when the caller should log now; `suppressed` is then the number of
  // occurrences since the previous line.
  bool should_log(std::uint64_t& suppressed) {
    const auto now = std::chrono::steady_clock::now();
    if (logged_once_ && now - last_ < std::chrono::seconds(1)) {
      ++suppressed_;
      return false;
    }
    logged_once_ = true;
    last_ = now;
    suppressed = std::exchange(suppressed_, 0);
    return true;
  }

 private:
  bool logged_once_ = false;
  std::chrono::steady_clock::time_point last_{};
  std::uint64_t suppressed_ = 0;
};

}  // namespace wsrelay
