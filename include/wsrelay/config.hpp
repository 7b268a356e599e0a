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

#include <wsrelay/address_limits.hpp>
#include <wsrelay/auth_rules.hpp>
#include <wsrelay/cidr.hpp>
#include <wsrelay/slow_consumer.hpp>

namespace wsrelay {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Where the Redis server is. Parsed from `redis://[user:password@]host:port[/db]`
// or `unix:///path.sock[?db=N]`.
struct RedisEndpoint {
  bool is_unix = false;
  std::string host;  // TCP only
  std::uint16_t port = 6379;
  std::string path;  // unix only
  std::string user;  // empty: AUTH with password only (or none)
  std::string password;
  int db = 0;

  bool operator==(const RedisEndpoint&) const = default;
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

struct Config {
  // [server]
  std::string listen = "127.0.0.1:8080";  // HOST:PORT; port 0 = any free port
  std::string websocket_url = "/ws/";
  int threads = 0;  // 0 = one shard per core
  std::size_t max_connections = 100000;
  // Accepted connections not yet WebSockets (or answered); the next gets 503
  // at accept. Bounds half-open sockets and their request buffers.
  std::size_t max_handshakes = 1024;
  // Per client address (IPv6: per /64), outside address_limits_exempt:
  std::size_t max_connections_per_address = 256;  // open at once; 0 = no limit
  int connect_rate_per_address = 5;               // new ones per second; 0 = no limit
  int connect_burst_per_address = 50;             // token bucket size for the rate
  std::vector<std::string> address_limits_exempt = {
      "127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"};
  int handshake_timeout_seconds = 10;
  std::size_t max_header_bytes = 8192;
  std::vector<std::string> subprotocols;  // empty = select the first offered
  std::string session_cookie = "sessionid";
  std::string ready_file;  // when set, "host:port\n" is written here once listening
  // HOST:PORT of an internal listener for /metrics, /healthz and /readyz
  // only; empty = none. When set, /metrics is served there and not on `listen`.
  std::string admin_listen;
  std::string client_path = "/static/wsrelay.js";  // the embedded JS client; empty = not served
  bool demo = false;                               // serve the demo chat page at /demo/

  // [redis]
  std::string redis_url;  // empty = in-process memory engine
  std::string prefix;
  int expire_seconds = 3600;
  int redis_connect_timeout_ms = 2000;
  int redis_reconnect_min_ms = 100;
  int redis_reconnect_max_ms = 500;  // bounds how late delivery resumes after Redis returns
  std::size_t redis_pending_max_messages = 10000;  // client publishes held while Redis is down
  std::size_t redis_pending_max_bytes = 16 * 1024 * 1024;
  // Message bytes the subscriber thread may hand to the hub before it drops
  // (and counts) instead: the bound on what a lagging hub costs in memory.
  std::size_t redis_subscriber_backlog_bytes = 32 * 1024 * 1024;
  // A message from the backend larger than this is dropped and counted,
  // never delivered in part; the subscriber skips its payload unread.
  std::size_t redis_max_message_bytes = 1024 * 1024;

  // [websocket]
  std::string heartbeat;  // ws4redis WS4REDIS_HEARTBEAT; empty = off
  int heartbeat_interval_seconds = 4;
  int ping_interval_seconds = 20;
  int idle_timeout_seconds = 60;
  int close_timeout_seconds = 2;  // how long a closing peer gets to answer the close frame
  std::size_t max_message_bytes = 65536;
  std::size_t max_queue_bytes = 1024 * 1024;  // per-session outbound queue; over it: 1013
  // Over this many queued bytes for soft_queue_seconds: 1013 (policy close); 0 = off.
  std::size_t soft_queue_bytes = 256 * 1024;
  int soft_queue_seconds = 10;
  std::vector<std::string> slow_consumer_policies;  // "FACILITY_GLOB=POLICY", first match wins
  // SO_SNDBUF of each connection; 0 = the kernel's (autotuned, up to 4 MiB
  // by default for a peer that does not read).
  std::size_t send_buffer_bytes = 0;
  int publish_rate = 100;   // client messages per second per connection; 0 = no limit
  int publish_burst = 200;  // token bucket size for publish_rate

  // [auth] (README "Authentication and authorization")
  std::vector<std::string> auth_backends = {"anonymous"};  // the chain, in order
  std::vector<std::string> allowed_origins;                // empty = the Origin must match the Host
  std::vector<std::string> trusted_proxies;                // CIDR blocks whose headers are believed
  std::vector<std::string> auth_rules;                     // "PATTERN: FLAG ... [require-user]"
  std::vector<std::string> jwt_keys;                       // "ALG PATH [KID]"
  std::string jwt_cookie;       // empty = tokens are not read from cookies
  std::string jwt_query_param;  // empty = tokens are not read from the URL
  std::string jwt_audience;
  std::string jwt_issuer;
  int jwt_leeway_seconds = 30;
  std::string jwt_user_claim = "sub";
  std::string jwt_groups_claim = "groups";
  std::string jwt_session_claim = "session";
  std::string jwt_allow_claim = "allow";
  std::string proxy_user_header = "X-WsRelay-User";
  std::string proxy_groups_header = "X-WsRelay-Groups";
  std::string proxy_session_header = "X-WsRelay-Session";
  std::string proxy_allow_header = "X-WsRelay-Allow";

  // [auth]
  std::string auth_callback_url;  // http://host[:port]/path; empty = no HTTP callback
  int auth_callback_timeout_ms = 2000;
  std::size_t auth_callback_max_connections = 16;
  std::size_t auth_callback_max_pending = 1000;  // handshakes waiting for a free connection
  int auth_callback_cache_seconds = 0;           // 0 = every handshake asks the site
  std::size_t auth_callback_cache_max_entries = 10000;
  // Further request headers the callback passes on to the site (a
  // ws4redis hook that reads one), beside Cookie, Authorization and Origin.
  std::vector<std::string> auth_callback_forward_headers;

  // [log]
  std::string log_level = "info";   // trace, debug, info, warn, error, critical, off
  std::string log_format = "text";  // text, json (log.hpp)
  bool log_access = true;           // a line per handshake outcome and per close

  // [shutdown]
  int shutdown_timeout_seconds = 10;
  int shutdown_drain_seconds = 5;

  // [publish_api] (docs/publishing.md, "HTTP"): POST /api/publish
  bool publish_api_enabled = false;
  std::vector<std::string> publish_api_keys;  // Bearer keys, any of them accepted (rotation)
  std::string publish_api_keys_file;          // more keys, one a line; read at start and reload
  std::size_t publish_api_max_body_bytes = 1024 * 1024;  // over it: 413
  bool publish_api_admin_only = false;                   // served on server.admin_listen only

  // Derived by validate(): parsed forms of the strings above.
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;
  std::string admin_host;  // from admin_listen; empty when it is
  std::uint16_t admin_port = 0;
  std::optional<RedisEndpoint> redis;  // none = memory engine
  std::vector<CidrBlock> trusted_proxy_blocks;
  std::vector<StaticRule> static_rules;
  std::vector<SlowConsumerRule> slow_consumer_rules;  // parsed slow_consumer_policies
  AddressLimitSettings address_limits;                // the per-address keys together
  std::vector<std::string> publish_api_key_list;      // publish_api.keys and keys_file's

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

// Checks every value and fills the derived fields. Throws ConfigError.
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
