#pragma once
// At most one log line per second for a repeating condition, with the count
// of the repeats it swallowed. RateLimitedLog is not thread-safe: one per
// thread of use. SharedRateLimitedLog is the same for a line several threads
// may write (every shard's sessions): one line a second for the process.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
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

class SharedRateLimitedLog {
 public:
  bool should_log(std::uint64_t& suppressed) {
    using clock = std::chrono::steady_clock;
    const std::int64_t now = clock::now().time_since_epoch().count();
    const std::int64_t period =
        std::chrono::duration_cast<clock::duration>(std::chrono::seconds(1)).count();
    std::int64_t last = last_.load(std::memory_order_relaxed);
    // Of two threads that both find the period over, one wins the exchange
    // and logs; the other counts as suppressed.
    if ((last != kNever && now - last < period) ||
        !last_.compare_exchange_strong(last, now, std::memory_order_relaxed)) {
      suppressed_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    suppressed = suppressed_.exchange(0, std::memory_order_relaxed);
    return true;
  }

 private:
  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min();
  std::atomic<std::int64_t> last_{kNever};
  std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace wsrelay
