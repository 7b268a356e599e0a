#pragma once
// Waiting on a condition, never on time: polls `pred` every `poll` until it
// returns true (-> true) or `timeout` has passed (-> false). `pred` is always
// evaluated at least once, and once more at the deadline.
#include <chrono>
#include <functional>

namespace wsrelay::test {

using namespace std::chrono_literals;

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = 5ms);

}  // namespace wsrelay::test
