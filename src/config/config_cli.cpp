// load_config(): the start-up path. Layers, later wins:
//   built-in defaults < the TOML file < WSRELAY_* variables < flags.
// Named flags (--listen, --threads, ...) are applied after every --set, so
// `--threads 4 --set server.threads=8` runs 4 threads.
// Nothing here prints or exits: help and version come back as text plus an
// exit code, --check-config as `check_only`, errors as ConfigError; main decides.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <wsrelay/config/config.hpp>

#ifndef WSRELAY_VERSION
#define WSRELAY_VERSION "unknown"
#endif

namespace wsrelay {
namespace {

std::string read_config_file(const std::string& path, std::string_view origin) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw ConfigError(
        fmt::format("{}: cannot read \"{}\": {}", origin, path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  // A directory opens fine and then fails on the first read.
  if (in.bad() || text.fail())
    throw ConfigError(fmt::format("{}: cannot read \"{}\": {}", origin, path,
                                  errno ? std::strerror(errno) : "read error"));
  return text.str();
}

struct NamedFlag {
  const char* flag;
  const char* key;
  const char* type_name;
  const char* help;
  std::string value;
};

}  // namespace

CommandLine load_config(int argc, const char* const* argv,
                        const std::map<std::string, std::string>& env) {
  CLI::App app{"wsrelay: a WebSocket gateway to Redis pub/sub (successor of ws4redis).", "wsrelay"};
  app.footer(
      "Every key of the config file can also be set with --set table.key=value or with\n"
      "WSRELAY_<FIELD> variables (see docs/configuration.md). Precedence: built-in defaults\n"
      "< config file < environment < flags. Exit codes: 0 stopped cleanly, 1 internal error,\n"
      "2 bad configuration, 3 cannot start (e.g. a listener cannot be bound), 4 forced stop\n"
      "(a second signal, or shutdown.timeout_seconds passed while draining).");
  app.set_version_flag("--version", std::string("wsrelay ") + WSRELAY_VERSION);

  std::string config_path;
  bool check_only = false;
  std::vector<std::string> assignments;
  std::vector<NamedFlag> named = {
      {"--listen", "server.listen", "HOST:PORT", "address to listen on (server.listen)", {}},
      {"--redis", "redis.url", "URL", "Redis URL, redis://... or unix://... (redis.url)", {}},
      {"--prefix", "redis.prefix", "P", "prefix of every Redis channel name (redis.prefix)", {}},
      {"--threads", "server.threads", "N", "shard threads, 0 = one per core (server.threads)", {}},
      {"--log-level",
       "log.level",
       "L",
       "trace, debug, info, warn, error, critical or off (log.level)",
       {}},
      {"--log-format", "log.format", "F", "text or json (log.format)", {}},
  };

  app.add_option("--config", config_path, "TOML config file (default: $WSRELAY_CONFIG, else none)")
      ->type_name("FILE");
  for (NamedFlag& f : named) app.add_option(f.flag, f.value, f.help)->type_name(f.type_name);
  app.add_option("--set", assignments, "set any key, e.g. --set websocket.heartbeat=--heartbeat--")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false);
  app.add_flag("--check-config", check_only,
               "validate the configuration, print it as TOML and exit 0");

  CommandLine result;
  std::vector<std::string> args;
  for (int i = argc - 1; i >= 1; --i) args.emplace_back(argv[i]);  // CLI11 wants them reversed
  try {
    app.parse(args);
  } catch (const CLI::Success& e) {  // --help, --version
    std::ostringstream out;
    std::ostringstream err;
    result.exit_code = app.exit(e, out, err);
    result.output = out.str();
    return result;
  } catch (const CLI::ParseError& e) {
    throw ConfigError(e.what());
  }

  LoadedConfig& loaded = result.loaded;
  Config config;
  std::string_view file_origin = "--config";
  if (app.count("--config") == 0) {  // `--config ""` means no file, even with $WSRELAY_CONFIG
    file_origin = "WSRELAY_CONFIG";
    if (auto it = env.find("WSRELAY_CONFIG"); it != env.end()) config_path = it->second;
  }
  if (!config_path.empty()) {
    config = parse_config_toml(read_config_file(config_path, file_origin), config_path, config);
    loaded.config_file = config_path;
  }

  if (auto unknown = apply_environment(config, env); !unknown.empty())
    loaded.warnings.push_back(fmt::format(
        "ignoring unknown environment variable{} {} (not wsrelay settings: a key's variable is "
        "WSRELAY_ and its field name in capitals, e.g. WSRELAY_REDIS_URL; Kubernetes sets "
        "WSRELAY_PORT, WSRELAY_SERVICE_HOST, ... for a Service named wsrelay)",
        unknown.size() == 1 ? "" : "s", fmt::join(unknown, ", ")));

  for (const std::string& assignment : assignments) {
    const auto eq = assignment.find('=');
    if (eq == std::string::npos)
      throw ConfigError(fmt::format(
          "--set {}: expected KEY=VALUE, e.g. --set server.listen=0.0.0.0:8080", assignment));
    const std::string key = assignment.substr(0, eq);
    set_config_value(config, key, std::string_view(assignment).substr(eq + 1), "--set " + key);
  }
  for (const NamedFlag& f : named)
    if (app.count(f.flag) > 0) set_config_value(config, f.key, f.value, f.flag);

  validate(config);
  loaded.config = std::move(config);
  loaded.check_only = check_only;  // the caller prints to_toml() and exits 0
  return result;
}

}  // namespace wsrelay
