// wsrelay: flags and configuration in, a running Server out. Wiring only.
#include <csignal>
#include <cstdio>
#include <exception>
#include <map>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <wsrelay/config.hpp>
#include <wsrelay/server.hpp>

extern char** environ;

namespace {

std::map<std::string, std::string> environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string item(*e);
    auto eq = item.find('=');
    if (eq != std::string::npos) env.emplace(item.substr(0, eq), item.substr(eq + 1));
  }
  return env;
}

}  // namespace

int main(int argc, char** argv) {
  wsrelay::CommandLine command_line;
  try {
    command_line = wsrelay::load_config(argc, argv, environment());
  } catch (const wsrelay::ConfigError& e) {
    std::fprintf(stderr, "wsrelay: configuration error: %s\n", e.what());
    return 2;
  }
  if (command_line.exit_code) {
    std::fputs(command_line.output.c_str(), stdout);
    return *command_line.exit_code;
  }
  auto& loaded = command_line.loaded;
  if (loaded.check_only) {
    for (const std::string& warning : loaded.warnings)
      std::fprintf(stderr, "wsrelay: warning: %s\n", warning.c_str());
    std::fputs(wsrelay::to_toml(loaded.config).c_str(), stdout);
    std::fprintf(stderr, "wsrelay: configuration OK\n");
    return 0;
  }

  auto logger = spdlog::stderr_color_mt("wsrelay");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(loaded.config.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  std::signal(SIGPIPE, SIG_IGN);

  try {
    wsrelay::Server server(std::move(loaded.config));
    // After the engine's line, which must come first.
    for (const std::string& warning : loaded.warnings) spdlog::warn("{}", warning);
    // SIGHUP reads the same sources again: the same flags, file and variables.
    server.set_reload_source(
        [argc, argv] { return wsrelay::load_config(argc, argv, environment()).loaded.config; });
    return server.run();
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
}
