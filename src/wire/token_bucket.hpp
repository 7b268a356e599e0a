#pragma once
// A token bucket (pure: the caller passes the time). Holds at most `burst`
// tokens, refilled at `rate` per second; each event takes one. The rate and
// burst are passed on every call rather than stored, so a configuration
// reload applies to buckets already running.
#include <algorithm>
#include <chrono>

namespace wsrelay {

class TokenBucket {
 public:
  using clock = std::chrono::steady_clock;

  // True when a token was available, and takes it. The first call finds the
  // bucket full.
  bool take(clock::time_point now, double rate, double burst) {
    if (!started_) {
      started_ = true;
      tokens_ = burst;
    } else if (now > last_) {
      tokens_ += rate * std::chrono::duration<double>(now - last_).count();
    }
    tokens_ = std::min(tokens_, burst);
    last_ = std::max(last_, now);
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  bool started_ = false;
  double tokens_ = 0;
  clock::time_point last_{};
};

}  // namespace wsrelay
