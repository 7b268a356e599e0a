#pragma once
// The daemon's configuration: one plain struct, loaded from a TOML file, then
// WSRELAY_* environment variables, then command-line flags (later wins).
// Loading validates every value; a bad key, type or value is a ConfigError
// whose message names the key (and the file line when it came from the file).
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <wsrelay/config/auth_settings.hpp>
#include <wsrelay/config/command_channel_settings.hpp>
#include <wsrelay/config/gateway_settings.hpp>
#include <wsrelay/config/redis_settings.hpp>
#include <wsrelay/config/route_settings.hpp>

namespace wsrelay {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws ConfigError("redis_url: ...") for anything it cannot parse.
RedisEndpoint parse_redis_url(std::string_view url);

// "host:port" or "unix:/path", for log lines and errors (no credential).
std::string describe_redis_endpoint(const RedisEndpoint& endpoint);

// What --check-config prints in place of a secret. It is a valid value, so
// the output still loads; it is just not the secret.
inline constexpr std::string_view redacted_secret = "REDACTED";

// `url` with its password (redis://user:PASSWORD@host, unix://...?password=)
// replaced by redacted_secret; anything else is left as written.
std::string redact_redis_url(std::string_view url);

// The whole configuration: one settings struct per module, each in its own
// header and checked by its own file (gateway_settings.hpp and
// config_gateway.cpp; redis_settings.hpp and config_redis.cpp;
// auth_settings.hpp and config_auth.cpp; the [[routes]] tables in
// route_settings.hpp and config_routes.cpp). A module is handed its own part
// (a Config is a `const AuthSettings&`); the gateway keeps the whole as its
// snapshot.
struct Config : ServerSettings,
                RedisSettings,
                WebSocketSettings,
                AuthSettings,
                LogSettings,
                ShutdownSettings,
                PublishApiSettings,
                CommandChannelSettings,
                RouteSettings {
  // Lets a SIGHUP reload tell what changed, and tests compare whole configs.
  bool operator==(const Config&) const = default;
};

// What load_config() found on the command line besides settings.
struct LoadedConfig {
  Config config;
  bool check_only = false;  // --check-config: validate, print, exit 0
  std::string config_file;  // "" when none was read
  // Said once at start (stderr, or the log): unknown WSRELAY_* variables
  // that were ignored.
  std::vector<std::string> warnings;
};

// Parses TOML text (source_name is used in messages, e.g. the file path) onto
// `base`. Unknown keys, wrong types and bad values throw ConfigError.
Config parse_config_toml(std::string_view text, std::string_view source_name, Config base = {});

// Applies WSRELAY_<KEY> variables (e.g. WSRELAY_REDIS_URL, WSRELAY_THREADS)
// from `env` onto `config`. A bad value throws ConfigError. A WSRELAY_* name
// that is no key's variable is ignored and returned, sorted: the environment
// is shared with the platform, and Kubernetes gives every pod
// WSRELAY_PORT=tcp://..., WSRELAY_SERVICE_HOST, ... for a Service named
// `wsrelay`. (A misspelt key in the file or in --set is still an error.)
std::vector<std::string> apply_environment(Config& config,
                                           const std::map<std::string, std::string>& env);

// Every key's variable name (WSRELAY_LISTEN, ...), in the order of the keys.
std::vector<std::string> config_variable_names();

// Sets one key from its text form, the way WSRELAY_* and --set do: `key` is
// `table.key` as in the file (e.g. "websocket.heartbeat"), integers are
// decimal, lists are comma-separated. The value is checked on its own (rules
// between keys are validate()'s). Errors start with `origin` (e.g.
// "WSRELAY_THREADS", "--set server.threads"), or with the key when empty.
void set_config_value(Config& config, std::string_view key, std::string_view value,
                      std::string_view origin = {});

// Checks every value and fills the derived fields. Throws ConfigError. What
// only the authorization layer can check is checked by it (auth.hpp:
// load_auth), right after this at start and on a reload.
void validate(Config& config);

// The whole start-up path: flags (--config FILE, --listen, --redis, --prefix,
// --threads, --log-level, --check-config, and --set KEY=VALUE for any key),
// the file they name (or $WSRELAY_CONFIG), the process environment.
// Throws ConfigError; throws CLI11's exceptions for --help/--version handling
// only through the returned exit code: `exit_code` set means "exit now with it".
struct CommandLine {
  LoadedConfig loaded;
  std::optional<int> exit_code;
  std::string output;  // text to print (help, version) when exit_code is set
};
CommandLine load_config(int argc, const char* const* argv,
                        const std::map<std::string, std::string>& env);

// What a reload (SIGHUP) makes of a freshly loaded configuration: the running
// one with every key that can change at run time taken from `loaded`, the
// rest kept. `changed` and `kept` name the keys (table.key) whose value
// differs, applied or not. Throws ConfigError when the result is invalid.
struct Reload {
  Config config;
  std::vector<std::string> changed;
  std::vector<std::string> kept;
};
Reload plan_reload(const Config& running, const Config& loaded);

// Every key with its current value, as TOML (for --check-config). Unless
// `secrets` is `shown`, secrets (the password in redis.url, the query values
// of auth.callback_url) are printed as redacted_secret: the output goes to
// terminals, CI logs and bug reports.
enum class Secrets { redacted, shown };
std::string to_toml(const Config& config, Secrets secrets = Secrets::redacted);

}  // namespace wsrelay
