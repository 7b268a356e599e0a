#pragma once
// A log-linear latency histogram in microseconds: exact below 1024 µs, then
// 512 buckets per power of two (under 0.2% error), so recording is one
// increment and a 10k-subscriber run needs no per-sample storage. One per
// receiver thread; merged at the end.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace wsrelay::bench {

class LatencyHistogram {
 public:
  LatencyHistogram() : counts_(kBuckets, 0) {}

  void record(std::int64_t micros) {
    const auto v = static_cast<std::uint64_t>(micros < 0 ? 0 : micros);
    ++counts_[index(v)];
    ++count_;
    max_ = std::max(max_, v);
  }

  void merge(const LatencyHistogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }

  // The value below which a fraction q (0..1) of the samples lie.
  std::uint64_t percentile(double q) const {
    if (count_ == 0) return 0;
    const auto target =
        std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * count_)));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= target) return std::min(upper(i), max_);
    }
    return max_;
  }

 private:
  static constexpr std::uint64_t kLinear = 1024;  // 2^10
  static constexpr std::uint64_t kSub = 512;      // buckets per power of two above it
  static constexpr std::size_t kBuckets = kLinear + (64 - 10) * kSub;

  static std::size_t index(std::uint64_t v) {
    if (v < kLinear) return v;
    const int k = 63 - std::countl_zero(v);  // >= 10
    return kLinear + (k - 10) * kSub + ((v >> (k - 9)) - kSub);
  }
  // The largest value a bucket holds.
  static std::uint64_t upper(std::size_t i) {
    if (i < kLinear) return i;
    const std::size_t b = i - kLinear;
    const std::size_t k = b / kSub + 10;
    const std::uint64_t s = b % kSub + kSub;
    return ((s + 1) << (k - 9)) - 1;
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace wsrelay::bench
