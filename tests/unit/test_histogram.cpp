// Histogram: which bucket a value lands in, cells summed at the scrape, and
// the Prometheus lines it renders.
#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include <wsrelay/runtime/histogram.hpp>

using namespace std::chrono_literals;
using wsrelay::Histogram;

TEST_CASE("a histogram puts a value in the first bucket whose bound it does not pass",
          "[metrics][histogram]") {
  const double bounds[] = {0.001, 0.01, 0.1};
  Histogram h(bounds);
  h.observe(0, 0ns);     // le 0.001
  h.observe(0, 1ms);     // exactly on a bound: that bucket ("le" is inclusive)
  h.observe(0, 1001us);  // le 0.01
  h.observe(0, 100ms);   // le 0.1
  h.observe(0, 3s);      // +Inf only
  h.observe(0, -5ns);    // a clock that went backwards counts as 0
  const auto s = h.snapshot();
  REQUIRE(s.cumulative.size() == 4);
  CHECK(s.cumulative[0] == 3);
  CHECK(s.cumulative[1] == 4);
  CHECK(s.cumulative[2] == 5);
  CHECK(s.cumulative[3] == 6);
  CHECK(s.count == 6);
  CHECK(s.sum_seconds == Approx(0.001 + 0.001001 + 0.1 + 3.0));
}

TEST_CASE("a histogram's cells are summed when it is read", "[metrics][histogram]") {
  const double bounds[] = {0.5};
  Histogram h(bounds, 3);
  CHECK(h.cells() == 3);
  h.observe(0, 100ms);
  h.observe(1, 100ms);
  h.observe(2, 900ms);
  h.observe(2, 900ms);
  const auto s = h.snapshot();
  CHECK(s.cumulative[0] == 2);
  CHECK(s.count == 4);
  CHECK(s.sum_seconds == Approx(2.0));
  // New cells start empty.
  h.set_cells(2);
  CHECK(h.snapshot().count == 0);
}

TEST_CASE("a histogram renders _bucket lines with le, then _sum and _count",
          "[metrics][histogram]") {
  const double bounds[] = {0.005, 1};
  Histogram h(bounds);
  h.observe(0, 2ms);
  h.observe(0, 2s);
  std::string out;
  h.render(out, "x_seconds");
  CHECK(out ==
        "x_seconds_bucket{le=\"0.005\"} 1\n"
        "x_seconds_bucket{le=\"1\"} 1\n"
        "x_seconds_bucket{le=\"+Inf\"} 2\n"
        "x_seconds_sum 2.002\n"
        "x_seconds_count 2\n");
}

TEST_CASE("the gateway's histogram bounds ascend", "[metrics][histogram]") {
  for (auto bounds : {std::span<const double>(wsrelay::kDeliveryBounds),
                      std::span<const double>(wsrelay::kRequestBounds)}) {
    for (std::size_t i = 1; i < bounds.size(); ++i) CHECK(bounds[i - 1] < bounds[i]);
  }
}
