#include <wsrelay/runtime/histogram.hpp>

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

namespace wsrelay {

Histogram::Histogram(std::span<const double> bounds_seconds, std::size_t cells)
    : bounds_seconds_(bounds_seconds.begin(), bounds_seconds.end()) {
  if (bounds_seconds_.size() > kMaxBuckets) throw std::logic_error("histogram: too many buckets");
  for (double bound : bounds_seconds_)
    bounds_ns_.push_back(static_cast<std::uint64_t>(std::llround(bound * 1e9)));
  set_cells(cells);
}

void Histogram::set_cells(std::size_t cells) {
  cell_count_ = cells > 0 ? cells : 1;
  cells_ = std::make_unique<Cell[]>(cell_count_);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  std::vector<std::uint64_t> counts(bounds_ns_.size() + 1, 0);
  std::uint64_t sum_ns = 0;
  for (std::size_t c = 0; c < cell_count_; ++c) {
    for (std::size_t b = 0; b < counts.size(); ++b)
      counts[b] += cells_[c].counts[b].load(std::memory_order_relaxed);
    sum_ns += cells_[c].sum_ns.load(std::memory_order_relaxed);
  }
  std::uint64_t running = 0;
  for (std::uint64_t count : counts) {
    running += count;
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum_seconds = static_cast<double>(sum_ns) / 1e9;
  return s;
}

void Histogram::render(std::string& out, std::string_view name) const {
  const Snapshot s = snapshot();
  for (std::size_t b = 0; b < bounds_seconds_.size(); ++b)
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_seconds_[b], s.cumulative[b]);
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, s.count);
  out += fmt::format("{}_sum {}\n{}_count {}\n", name, s.sum_seconds, name, s.count);
}

}  // namespace wsrelay
