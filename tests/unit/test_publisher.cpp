// The pure part of Publisher: which channels a target names, and the argv
// of the pipeline that publishes (and stores) a message on them.
#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <wsrelay/config/config.hpp>
#include <wsrelay/publisher/publish_cli.hpp>
#include <wsrelay/publisher/publisher.hpp>

using namespace wsrelay;
using Strings = std::vector<std::string>;
using Commands = std::vector<Strings>;

TEST_CASE("target_channels: ws4redis names, in audience order, each once", "[publisher]") {
  PublishTarget target{"chat", true, {"john", "jane", "john"}, {"staff"}, {"s3cr3t"}};
  CHECK(target_channels(target, "") == Strings{"broadcast:chat", "user:john:chat", "user:jane:chat",
                                               "group:staff:chat", "session:s3cr3t:chat"});
  // The same names the gateway subscribes for a connection of that identity.
  Identity identity{"john", {"staff"}, "s3cr3t"};
  const auto gateway = channels_for(identity, "chat", all_flags, "p");
  const Strings prefixed = target_channels(target, "p");
  CHECK(prefixed == Strings{"p:broadcast:chat", "p:user:john:chat", "p:user:jane:chat",
                            "p:group:staff:chat", "p:session:s3cr3t:chat"});
  for (const auto& channel : gateway.subscribe)
    CHECK(std::count(prefixed.begin(), prefixed.end(), channel) == 1);
  CHECK(target_channels(PublishTarget{"f", false, {}, {"g"}, {}}, "") == Strings{"group:g:f"});
}

TEST_CASE("check_target: a clear reason for every target that cannot be published to",
          "[publisher]") {
  CHECK(check_target({"chat", true, {}, {}, {}}).empty());
  CHECK(check_target({"chat", false, {"u"}, {}, {}}).empty());
  CHECK(check_target({"", true, {}, {}, {}}).starts_with("facility must be"));
  CHECK(check_target({"a:b", true, {}, {}, {}}).starts_with("facility must be"));
  CHECK(check_target({"a*", true, {}, {}, {}}).starts_with("facility must be"));
  CHECK(check_target({"..", true, {}, {}, {}}).starts_with("facility must be"));
  CHECK(check_target({std::string(129, 'f'), true, {}, {}, {}}).starts_with("facility must be"));
  CHECK(check_target({"chat", false, {}, {}, {}}).starts_with("no audience"));
  CHECK(check_target({"chat", false, {""}, {}, {}}) == "an empty user name");
  CHECK(check_target({"chat", false, {}, {""}, {}}) == "an empty group name");
  CHECK(check_target({"chat", false, {}, {}, {""}}) == "an empty session name");
  CHECK(check_target({"chat", false, {std::string(max_audience_name_bytes + 1, 'u')}, {}, {}})
            .starts_with("a user name longer than"));
}

TEST_CASE("publish_commands: PUBLISH alone without a store, MULTI around PUBLISH+SET with one",
          "[publisher]") {
  const Strings channels{"broadcast:chat", "user:john:chat"};
  CHECK(publish_commands(channels, "hi", 0) ==
        Commands{{"PUBLISH", "broadcast:chat", "hi"}, {"PUBLISH", "user:john:chat", "hi"}});
  CHECK(publish_commands(channels, "hi", 60) ==
        Commands{{"MULTI"},
                 {"PUBLISH", "broadcast:chat", "hi"},
                 {"SET", "broadcast:chat", "hi", "EX", "60"},
                 {"PUBLISH", "user:john:chat", "hi"},
                 {"SET", "user:john:chat", "hi", "EX", "60"},
                 {"EXEC"}});
  // Binary-safe: the message is one argument whatever its bytes.
  const std::string binary("a\0b\r\n*1\r\n", 10);
  const auto commands = publish_commands({"broadcast:b"}, binary, 0);
  REQUIRE(commands.size() == 1);
  CHECK(commands[0][2] == binary);
  // Sharded pub/sub: SPUBLISH, in the same places.
  CHECK(publish_commands({"broadcast:chat"}, "hi", 60, true) ==
        Commands{{"MULTI"},
                 {"SPUBLISH", "broadcast:chat", "hi"},
                 {"SET", "broadcast:chat", "hi", "EX", "60"},
                 {"EXEC"}});
}

TEST_CASE("Publisher::set_sharded: only with redis+cluster://", "[publisher]") {
  Publisher plain(parse_redis_url("redis://127.0.0.1:1"), "");
  CHECK_THROWS_AS(plain.set_sharded(true), std::invalid_argument);
  plain.set_sharded(false);
  Publisher cluster(parse_redis_url("redis+cluster://127.0.0.1:1"), "");
  cluster.set_sharded(true);
}

TEST_CASE("wsrelay-publish: usage errors exit 2 with a reason, before any connection",
          "[publisher]") {
  auto run = [](std::vector<const char*> args, std::string& err) {
    args.insert(args.begin(), "wsrelay-publish");
    std::istringstream in("from stdin");
    std::ostringstream out;
    std::ostringstream errors;
    // Port 1: were anything to connect, it would fail with 3, not 2.
    const int code = publish_main(static_cast<int>(args.size()), args.data(), in, out, errors,
                                  {{"WSRELAY_REDIS_URL", "redis://127.0.0.1:1"}});
    err = errors.str();
    return code;
  };
  std::string err;
  CHECK(run({"--broadcast", "x"}, err) == publish_exit::usage);  // no facility
  CHECK(err.find("--facility") != std::string::npos);
  CHECK(run({"-f", "chat", "x"}, err) == publish_exit::usage);
  CHECK(err.find("no audience") != std::string::npos);
  CHECK(run({"-f", "a:b", "-b", "x"}, err) == publish_exit::usage);
  CHECK(err.find("facility must be") != std::string::npos);
  CHECK(run({"-f", "chat", "-u", "", "x"}, err) == publish_exit::usage);
  CHECK(run({"-f", "chat", "-b", "--expire", "-1", "x"}, err) == publish_exit::usage);
  CHECK(run({"-f", "chat", "-b", "--redis", "http://x", "x"}, err) == publish_exit::usage);
  CHECK(err.find("redis_url") != std::string::npos);
  CHECK(run({"-f", "chat", "-b", "--prefix", "a b", "x"}, err) == publish_exit::usage);
  CHECK(err.find("--prefix") != std::string::npos);
  CHECK(run({"-f", "chat", "-b", "-u", "john", "--fetch"}, err) == publish_exit::usage);
  CHECK(err.find("exactly one") != std::string::npos);
  CHECK(run({"-f", "chat", "-b", "--fetch", "x"}, err) == publish_exit::usage);
  CHECK(run({"-f", "chat", "-b", "--bogus", "x"}, err) == publish_exit::usage);
  CHECK(run({"-f", "chat", "-b", "--sharded", "x"}, err) == publish_exit::usage);
  CHECK(err.find("--sharded: only with a redis+cluster:// URL") != std::string::npos);
  // Well-formed, but nothing listens on port 1.
  CHECK(run({"-f", "chat", "-b", "x"}, err) == publish_exit::redis);
  CHECK(err.find("127.0.0.1:1") != std::string::npos);
  // A WSRELAY_REDIS_SHARDED that says neither yes nor no is refused.
  const char* args[] = {"wsrelay-publish", "-f", "chat", "-b", "x"};
  std::istringstream in;
  std::ostringstream out;
  std::ostringstream errors;
  CHECK(publish_main(5, args, in, out, errors,
                     {{"WSRELAY_REDIS_URL", "redis+cluster://127.0.0.1:1"},
                      {"WSRELAY_REDIS_SHARDED", "yes"}}) == publish_exit::usage);
  CHECK(errors.str().find("WSRELAY_REDIS_SHARDED: expected true or false") != std::string::npos);
}
