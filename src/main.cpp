// wsrelay: flags and configuration in, a running Server out. Wiring only.
#include <csignal>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include <wsrelay/auth/auth.hpp>
#include <wsrelay/config/config.hpp>
#include <wsrelay/gateway/server.hpp>
#include <wsrelay/runtime/exit_codes.hpp>
#include <wsrelay/runtime/log.hpp>

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
  wsrelay::LoadedAuth auth;
  try {
    command_line = wsrelay::load_config(argc, argv, environment());
    // What only the authorization layer can check (backend names, key
    // files) is a bad configuration too: exit code 2, --check-config included.
    if (!command_line.exit_code) auth = wsrelay::load_auth(command_line.loaded.config);
  } catch (const wsrelay::ConfigError& e) {
    std::fprintf(stderr, "wsrelay: configuration error: %s\n", e.what());
    return wsrelay::exit_code::bad_config;
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

  wsrelay::LogFormat format = wsrelay::LogFormat::text;
  wsrelay::parse_log_format(loaded.config.log_format, format);  // validated
  wsrelay::setup_logging(format, loaded.config.log_level);
  std::signal(SIGPIPE, SIG_IGN);

  std::unique_ptr<wsrelay::Server> server;
  try {
    server = std::make_unique<wsrelay::Server>(std::move(loaded.config), std::move(auth));
    // After the engine's line, which must come first.
    for (const std::string& warning : loaded.warnings) spdlog::warn("{}", warning);
    // SIGHUP reads the same sources again: the same flags, file and variables.
    server->set_reload_source(
        [argc, argv] { return wsrelay::load_config(argc, argv, environment()).loaded.config; });
    server->listen();
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return wsrelay::exit_code::cannot_start;
  }
  try {
    return server->run();
  } catch (const std::exception& e) {
    spdlog::critical("stopped by an error: {}", e.what());
    return wsrelay::exit_code::failure;
  }
}
