#include "support/gateway.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "support/wait.hpp"

namespace wsrelay::test {
namespace {

// The ready file holds "host:port\n" once complete; a partial write has no
// newline yet.
std::optional<std::uint16_t> read_ready_port(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  if (text.empty() || text.back() != '\n') return std::nullopt;
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  try {
    const int port = std::stoi(text.substr(colon + 1));
    if (port <= 0 || port > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(port);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

Gateway::Gateway(std::string binary, std::vector<std::string> extra_args,
                 std::vector<std::string> extra_env, std::vector<std::string> launcher)
    : dir_("wsrelay-gateway") {
  const std::string ready_file = dir_.file("ready");
  std::vector<std::string> argv = std::move(launcher);
  argv.insert(argv.end(), {std::move(binary), "--set", "server.ready_file=" + ready_file});
  if (std::find(extra_args.begin(), extra_args.end(), "--listen") == extra_args.end()) {
    argv.emplace_back("--listen");
    argv.emplace_back("127.0.0.1:0");
  }
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<Process>(argv, dir_.file("wsrelay.log"), std::move(extra_env),
                                       std::vector<std::string>{"WSRELAY_"});
  std::optional<std::uint16_t> port;
  wait_until(
      [&] {
        port = read_ready_port(ready_file);
        return port.has_value() || !process_->running();
      },
      15s);
  if (!port) {
    std::string why = process_->running() ? "no ready file within 15 s" : "exited early";
    throw std::runtime_error("wsrelay did not start (" + why + "); log:\n" + log());
  }
  port_ = *port;
}

Gateway::~Gateway() = default;  // Process's destructor kills it by PID

}  // namespace wsrelay::test
