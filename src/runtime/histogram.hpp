#pragma once
// Histogram: a Prometheus histogram of durations with fixed bucket bounds,
// in cells that are each written by one thread only and summed when
// /metrics is read.
//
// Why cells: the delivery latency is observed on every shard's hot path.
// A shared counter would bounce one cache line between the shard threads
// at every observation; a cell of its own per shard costs a bucket search
// and two plain stores (a relaxed load and store of an atomic the thread
// alone writes: no locked instruction). The scrape reads every cell with
// relaxed loads: a figure may be a few observations behind, never torn.
//
// Bounds are in nanoseconds, ascending; a value above the last goes into
// the +Inf bucket. Thread-safety: observe(cell, ...) from the one thread that
// owns `cell`; snapshot() from any thread.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace wsrelay {

class Histogram {
 public:
  // `bounds_seconds`: the upper bounds of the buckets (the `le` labels).
  // `cells`: how many writers (at least 1).
  Histogram(std::span<const double> bounds_seconds, std::size_t cells = 1);

  // Before any observe(): one cell per writer (the shards, once their number
  // is known). Drops what was observed.
  void set_cells(std::size_t cells);
  std::size_t cells() const { return cell_count_; }

  void observe(std::size_t cell, std::chrono::nanoseconds value) {
    Cell& c = cells_[cell];
    const std::uint64_t ns = value.count() > 0 ? static_cast<std::uint64_t>(value.count()) : 0;
    std::size_t bucket = 0;
    while (bucket < bounds_ns_.size() && ns > bounds_ns_[bucket]) ++bucket;
    bump(c.counts[bucket], 1);
    bump(c.sum_ns, ns);
  }

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;  // per bound, then +Inf (= count)
    std::uint64_t count = 0;
    double sum_seconds = 0;
  };
  Snapshot snapshot() const;
  std::span<const double> bounds_seconds() const { return bounds_seconds_; }

  // `name`_bucket{le="..."} lines, then `name`_sum and `name`_count.
  void render(std::string& out, std::string_view name) const;

 private:
  static void bump(std::atomic<std::uint64_t>& a, std::uint64_t by) {
    a.store(a.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  static constexpr std::size_t kMaxBuckets = 24;
  struct alignas(64) Cell {
    std::atomic<std::uint64_t> counts[kMaxBuckets + 1] = {};
    std::atomic<std::uint64_t> sum_ns{0};
  };

  std::vector<double> bounds_seconds_;
  std::vector<std::uint64_t> bounds_ns_;
  std::unique_ptr<Cell[]> cells_;
  std::size_t cell_count_ = 0;
};

// Bounds of the three histograms (seconds).
inline constexpr double kDeliveryBounds[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                             0.0025,  0.005,  0.01,    0.025,  0.05,
                                             0.1,     0.25,   0.5,     1,      2.5};
inline constexpr double kRequestBounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,  5,     10};

}  // namespace wsrelay
