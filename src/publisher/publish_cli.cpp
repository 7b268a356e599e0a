// wsrelay-publish: flags -> PublishTarget -> Publisher, with exit codes a
// script can act on.
#include <wsrelay/publisher/publish_cli.hpp>

#include <istream>
#include <iterator>
#include <ostream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <wsrelay/config/config.hpp>
#include <wsrelay/publisher/publisher.hpp>
#include <wsrelay/wire/printable.hpp>

#ifndef WSRELAY_VERSION
#define WSRELAY_VERSION "unknown"
#endif

namespace wsrelay {
namespace {

constexpr std::string_view default_redis_url = "redis://127.0.0.1:6379";

// --fetch reads one channel: the one audience the flags name.
std::string fetch_audience(const PublishTarget& target, Audience& audience, std::string& name) {
  const std::size_t named = (target.broadcast ? 1 : 0) + target.users.size() +
                            target.groups.size() + target.sessions.size();
  if (named != 1)
    return "--fetch reads one channel: give exactly one of --broadcast, --user, --group, "
           "--session";
  if (target.broadcast) {
    audience = Audience::broadcast;
  } else if (!target.users.empty()) {
    audience = Audience::user;
    name = target.users.front();
  } else if (!target.groups.empty()) {
    audience = Audience::group;
    name = target.groups.front();
  } else {
    audience = Audience::session;
    name = target.sessions.front();
  }
  return {};
}

std::string env_or(const std::map<std::string, std::string>& env, const char* name,
                   std::string_view fallback) {
  const auto it = env.find(name);
  return it != env.end() ? it->second : std::string(fallback);
}

}  // namespace

int publish_main(int argc, const char* const* argv, std::istream& in, std::ostream& out,
                 std::ostream& err, const std::map<std::string, std::string>& env) {
  CLI::App app{
      "wsrelay-publish: publish a message to the browsers connected to wsrelay (the channel\n"
      "names of ws4redis), or print a channel's stored last message.",
      "wsrelay-publish"};
  app.footer(
      "Examples:\n"
      "  wsrelay-publish --facility chat --user john 'hi'\n"
      "  echo '{\"n\": 1}' | wsrelay-publish -f prices --broadcast --expire 0\n"
      "  wsrelay-publish -f chat --broadcast --fetch\n"
      "The message is the argument, or standard input (all of it) when there is none.\n"
      "Exit codes: 0 published (or printed), 1 --fetch found no stored message,\n"
      "2 bad usage (flags, facility, audience, Redis URL), 3 Redis cannot be reached or\n"
      "answered with an error.");
  app.set_version_flag("--version", std::string("wsrelay-publish ") + WSRELAY_VERSION);

  PublishTarget target;
  std::string message;
  std::string redis_url = env_or(env, "WSRELAY_REDIS_URL", default_redis_url);
  std::string prefix = env_or(env, "WSRELAY_PREFIX", "");
  // Only from the environment, as the daemon's redis.sentinel_password: a
  // flag would show it in the process list.
  const std::string sentinel_password = env_or(env, "WSRELAY_REDIS_SENTINEL_PASSWORD", "");
  const std::string sharded_env = env_or(env, "WSRELAY_REDIS_SHARDED", "false");
  bool sharded = sharded_env == "true" || sharded_env == "1";
  if (!sharded && sharded_env != "false" && sharded_env != "0") {
    err << "wsrelay-publish: WSRELAY_REDIS_SHARDED: expected true or false, got \""
        << printable(sharded_env) << "\"\n";
    return publish_exit::usage;
  }
  int expire_seconds = 3600;
  int timeout_ms = 5000;
  bool fetch = false;
  bool verbose = false;
  std::size_t history_entries = 0;
  int history_ttl = 86400;
  app.add_option("-f,--facility", target.facility, "the facility (the /ws/<facility> of the URL)")
      ->required()
      ->type_name("NAME");
  app.add_flag("-b,--broadcast", target.broadcast, "every subscriber of the facility");
  app.add_option("-u,--user", target.users, "a user's connections (repeatable)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  app.add_option("-g,--group", target.groups, "a group's connections (repeatable)")
      ->type_name("NAME")
      ->allow_extra_args(false);
  app.add_option("-s,--session", target.sessions, "a session's connections (repeatable)")
      ->type_name("KEY")
      ->allow_extra_args(false);
  app.add_option("-e,--expire", expire_seconds,
                 "also store the message as each channel's last message for this long, replayed "
                 "to browsers that connect later; 0 = do not store")
      ->type_name("SECONDS")
      ->check(CLI::Range(0, 365 * 24 * 3600))
      ->capture_default_str();
  app.add_option("--history", history_entries,
                 "the facility keeps history (the gateway's history.facilities): append the "
                 "message to each channel's stream of this many entries, and publish it with "
                 "its position")
      ->type_name("ENTRIES")
      ->check(CLI::Range(std::size_t{1}, max_history_entries));
  app.add_option("--history-ttl", history_ttl,
                 "with --history: keep each stream this long after its last message")
      ->type_name("SECONDS")
      ->check(CLI::Range(1, max_history_ttl_seconds))
      ->capture_default_str();
  app.add_option("--redis", redis_url,
                 "Redis URL: redis://[user:password@]host[:port][/db], unix:///path.sock[?db=N] or "
                 "redis+sentinel://host:port,host:port/mastername[/db] or "
                 "redis+cluster://host:port,host:port "
                 "(default: $WSRELAY_REDIS_URL, else redis://127.0.0.1:6379)")
      ->type_name("URL");
  app.add_flag("--sharded,!--no-sharded", sharded,
               "the gateway's redis.sharded: publish with SPUBLISH on each channel's shard "
               "(redis+cluster:// only; default: $WSRELAY_REDIS_SHARDED, else off)");
  app.add_option("--prefix", prefix,
                 "the gateway's redis.prefix, put before every channel name "
                 "(default: $WSRELAY_PREFIX, else none)")
      ->type_name("P");
  app.add_option("--timeout-ms", timeout_ms, "deadline of the connection and of each command")
      ->check(CLI::Range(1, 600'000))
      ->capture_default_str();
  app.add_flag("--fetch", fetch,
               "print the stored last message of the one channel named, instead of publishing");
  app.add_flag("-v,--verbose", verbose, "say on stderr where the message went");
  app.add_option("message", message, "the message (default: standard input)");

  std::vector<std::string> args;
  for (int i = argc - 1; i >= 1; --i) args.emplace_back(argv[i]);  // CLI11 wants them reversed
  try {
    app.parse(args);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    app.exit(e, err, err);
    return publish_exit::usage;
  }

  RedisEndpoint endpoint;
  try {
    endpoint = parse_redis_url(redis_url);
    if (endpoint.tls) throw ConfigError(std::string(tls_not_supported));
    if (!sentinel_password.empty()) {
      if (!endpoint.is_sentinel())
        throw ConfigError("WSRELAY_REDIS_SENTINEL_PASSWORD: only with a redis+sentinel:// URL");
      endpoint.sentinel_password = sentinel_password;
    }
    if (sharded && !endpoint.is_cluster())
      throw ConfigError("--sharded: only with a redis+cluster:// URL");
    Config checked;  // the daemon's rule for redis.prefix, word for word
    set_config_value(checked, "redis.prefix", prefix, "--prefix");
  } catch (const ConfigError& e) {
    err << "wsrelay-publish: " << e.what() << "\n";
    return publish_exit::usage;
  }
  Audience audience = Audience::broadcast;
  std::string name;
  std::string error = fetch ? fetch_audience(target, audience, name) : check_target(target);
  if (error.empty() && fetch && !valid_facility(target.facility)) error = facility_rule;
  if (!error.empty()) {
    err << "wsrelay-publish: " << error << "\n";
    return publish_exit::usage;
  }
  if (fetch && app.count("message") > 0) {
    err << "wsrelay-publish: --fetch takes no message\n";
    return publish_exit::usage;
  }

  Publisher publisher(endpoint, prefix, std::chrono::milliseconds(timeout_ms));
  publisher.set_sharded(sharded);
  try {
    if (fetch) {
      auto stored = publisher.fetch_message(target.facility, audience, name);
      if (!stored) {
        if (verbose) err << "wsrelay-publish: no stored message\n";
        return publish_exit::nothing_stored;
      }
      out << *stored << std::flush;
      return publish_exit::ok;
    }
    if (app.count("message") == 0)
      message.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    const long long receivers =
        history_entries > 0 ? publisher.publish(target, message, expire_seconds,
                                                HistoryRule{"*", history_entries, history_ttl})
                            : publisher.publish(target, message, expire_seconds);
    if (verbose)
      err << fmt::format("wsrelay-publish: {} bytes on {} ({} Redis subscriber(s) received it)\n",
                         message.size(), fmt::join(target_channels(target, prefix), ", "),
                         receivers);
    return publish_exit::ok;
  } catch (const RedisError& e) {
    err << "wsrelay-publish: " << e.what() << "\n";
    return publish_exit::redis;
  } catch (const std::invalid_argument& e) {
    err << "wsrelay-publish: " << e.what() << "\n";
    return publish_exit::usage;
  }
}

}  // namespace wsrelay
