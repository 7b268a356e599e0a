#pragma once
// Helpers of the [regression] regression tests (test_gateway_limits.cpp,
// test_gateway_semantics.cpp): reading /metrics and /proc, finding frames a
// RawWsClient collected.
#include <sys/resource.h>
#include <sys/types.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "helpers.hpp"

namespace wsrelay::test {

// The value of metric `name` (e.g. "wsrelay_connections_open") on /metrics;
// nullopt when the request fails or the metric is absent.
inline std::optional<long long> metric_value(const Gateway& gateway, const std::string& name) {
  try {
    const HttpResult result = http_get(gateway.port(), "/metrics", {}, 2s);
    if (result.status != 200) return std::nullopt;
    std::istringstream in(result.body);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(name + " ", 0) == 0) return std::stoll(line.substr(name.size() + 1));
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// Raises this test process's soft open-file limit to the hard one, for tests
// that hold thousands of sockets.
inline void raise_open_files_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

// Lines of `log` that contain `text`.
inline std::size_t count_lines(const std::string& log, const std::string& text) {
  std::size_t count = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    if (line.find(text) != std::string::npos) ++count;
  return count;
}

// A "<field>: <n> kB" line of /proc/<pid>/status (VmRSS, VmHWM), in KiB.
inline std::optional<long> proc_status_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return std::nullopt;
}

inline bool is_data(const RawFrame& frame) {
  return frame.opcode == 0x1 || frame.opcode == 0x2;
}

inline std::uint16_t close_code_of(const RawFrame& frame) {
  if (frame.payload.size() < 2) return 1005;
  return static_cast<std::uint16_t>((static_cast<std::uint8_t>(frame.payload[0]) << 8) |
                                    static_cast<std::uint8_t>(frame.payload[1]));
}

// Index of the first data frame at or after `from` whose payload is
// `payload`; nullopt when there is none.
inline std::optional<std::size_t> find_data_frame(const std::vector<RawFrame>& frames,
                                                  const std::string& payload,
                                                  std::size_t from = 0) {
  for (std::size_t i = from; i < frames.size(); ++i) {
    if (is_data(frames[i]) && frames[i].payload == payload) return i;
  }
  return std::nullopt;
}

}  // namespace wsrelay::test
