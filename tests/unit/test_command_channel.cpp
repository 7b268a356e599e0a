// The Redis command channel's pure core: the command table, the string
// form's tokenizer, the key prefix of an identity, the checks and key
// confinement of prepare_command, and the JSON frames, fed values.
#include <algorithm>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <wsrelay/gateway/command_frames.hpp>
#include <wsrelay/wire/command_channel.hpp>
#include <wsrelay/wire/command_table.hpp>

using namespace wsrelay;

namespace {

Argv ok(const ArgvOrError& parsed) {
  if (const auto* error = std::get_if<CommandError>(&parsed)) FAIL(error->message);
  return std::get<Argv>(parsed);
}

CommandError refused(const ArgvOrError& parsed) {
  REQUIRE(std::holds_alternative<CommandError>(parsed));
  return std::get<CommandError>(parsed);
}

const std::vector<std::string> kAllowed = {"GET",    "SET",  "DEL",  "MSET", "MGET",
                                           "RENAME", "INCR", "HSET", "PING", "LMOVE"};

CommandPolicy policy(KeyMode mode = KeyMode::confined) {
  CommandPolicy p;
  p.allowed = &kAllowed;
  p.max_args = 8;
  p.max_arg_bytes = 32;
  p.max_command_bytes = 100;
  p.key_mode = mode;
  return p;
}

ArgvOrError prepare(Argv argv, KeyMode mode = KeyMode::confined) {
  return prepare_command(std::move(argv), "cmd:alice:", policy(mode));
}

nlohmann::json parsed_json(const std::string& text) {
  return nlohmann::json::parse(text);
}

}  // namespace

TEST_CASE("command table: sorted, findable, and apart from the refused names", "[command]") {
  const auto table = command_table();
  REQUIRE(std::is_sorted(table.begin(), table.end(),
                         [](const auto& a, const auto& b) { return a.name < b.name; }));
  for (const auto& spec : table) {
    CHECK(find_command(spec.name) == &spec);
    CHECK_FALSE(always_refused(spec.name));
    CHECK((spec.max_args < 0 || spec.max_args >= spec.min_args));
  }
  for (const auto name : default_allowed_commands()) CHECK(find_command(name) != nullptr);
  for (const auto name :
       {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "MONITOR", "CONFIG",   "FLUSHALL",
        "FLUSHDB",   "KEYS",       "SCAN",       "HSCAN",       "SSCAN",   "ZSCAN",    "EVAL",
        "EVALSHA",   "EVAL_RO",    "SCRIPT",     "FUNCTION",    "FCALL",   "DEBUG",    "SHUTDOWN",
        "CLIENT",    "ACL",        "BLPOP",      "BRPOP",       "BLMOVE",  "BZPOPMIN", "XREAD",
        "WAIT",      "MULTI",      "EXEC",       "WATCH",       "SELECT",  "AUTH",     "HELLO",
        "SWAPDB",    "MIGRATE",    "MOVE",       "OBJECT",      "DUMP",    "RESTORE",  "SORT",
        "PUBLISH",   "REPLICAOF",  "SLAVEOF",    "SAVE",        "BGSAVE",  "MODULE",   "SETRANGE",
        "SETBIT",    "COPY",       "RANDOMKEY"}) {
    INFO(name);
    CHECK(always_refused(name));
    CHECK(find_command(name) == nullptr);
  }
  CHECK(find_command("get") == nullptr);  // callers upper-case first
  CHECK(find_command("NOSUCH") == nullptr);
}

TEST_CASE("command tokenizer: runs of spaces split, nothing is quoted", "[command]") {
  CHECK(ok(tokenize_command("SET key1 15")) == Argv{"SET", "key1", "15"});
  CHECK(ok(tokenize_command("  GET   key1  ")) == Argv{"GET", "key1"});
  CHECK(ok(tokenize_command("SET k caf\xc3\xa9")) == Argv{"SET", "k", "caf\xc3\xa9"});
  for (const std::string& bad :
       {std::string(""), std::string("   "), std::string("SET \"a b\" 1"), std::string("SET 'a' 1"),
        std::string("SET a\\ b 1"), std::string("SET a 1\r\nFLUSHALL"), std::string("GET a\nb"),
        std::string("GET\ta"), std::string("GET a\0b", 7), std::string("GET a\x7f"),
        std::string("GET a\x1b[2J")}) {
    INFO(bad);
    CHECK(refused(tokenize_command(bad)).code == command_error::bad_command);
  }
}

TEST_CASE("key prefix templates", "[command]") {
  CHECK(check_key_prefix_template("cmd:{user}:").empty());
  CHECK(check_key_prefix_template("cmd:{user}:{session}:").empty());
  CHECK(check_key_prefix_template("app/{session}/").empty());
  CHECK_FALSE(check_key_prefix_template("").empty());
  CHECK_FALSE(check_key_prefix_template("{user}:").empty());       // no literal head
  CHECK_FALSE(check_key_prefix_template("cmd:").empty());          // no identity
  CHECK_FALSE(check_key_prefix_template("cmd:{user}").empty());    // no separator after it
  CHECK_FALSE(check_key_prefix_template("cmd:{user}x:").empty());  // a letter after it
  CHECK_FALSE(check_key_prefix_template("cmd:{user}{session}:").empty());
  CHECK_FALSE(check_key_prefix_template("cmd:{group}:").empty());
  CHECK_FALSE(check_key_prefix_template("cmd:*:{user}:").empty());
  CHECK_FALSE(check_key_prefix_template("cmd {user}:").empty());
  CHECK_FALSE(check_key_prefix_template("cmd:{user}:}").empty());
  CHECK(prefix_needs_user("cmd:{user}:"));
  CHECK_FALSE(prefix_needs_session("cmd:{user}:"));
  CHECK(prefix_needs_session("s:{session}:"));
}

TEST_CASE("key prefixes: identities encoded, none starts another's", "[command]") {
  CHECK(expand_key_prefix("cmd:{user}:", std::string("alice"), std::nullopt) == "cmd:alice:");
  CHECK(expand_key_prefix("c:{user}:{session}:", std::string("a"), std::string("s1")) == "c:a:s1:");
  CHECK(expand_key_prefix("cmd:{user}:", std::nullopt, std::string("s")) == std::nullopt);
  CHECK(expand_key_prefix("cmd:{user}:", std::string(""), std::nullopt) == std::nullopt);
  CHECK(expand_key_prefix("s:{session}:", std::string("u"), std::nullopt) == std::nullopt);
  CHECK(expand_key_prefix("cmd:{user}:", std::string("a:b*?%\r\n"), std::nullopt) ==
        "cmd:a%3Ab%2A%3F%25%0D%0A:");
  // User "a" and key "b:x" cannot reach user "a:b"'s keys.
  const auto a = *expand_key_prefix("cmd:{user}:", std::string("a"), std::nullopt);
  const auto ab = *expand_key_prefix("cmd:{user}:", std::string("a:b"), std::nullopt);
  CHECK_FALSE(ab.starts_with(a));
  CHECK_FALSE(a.starts_with(ab));
}

TEST_CASE("prepare_command: confined keys, upper-case names", "[command]") {
  CHECK(ok(prepare({"set", "key1", "15"})) == Argv{"SET", "cmd:alice:key1", "15"});
  CHECK(ok(prepare({"Get", "cmd:bob:secret"})) == Argv{"GET", "cmd:alice:cmd:bob:secret"});
  CHECK(ok(prepare({"MSET", "a", "1", "b", "2"})) ==
        Argv{"MSET", "cmd:alice:a", "1", "cmd:alice:b", "2"});
  CHECK(ok(prepare({"MGET", "a", "b"})) == Argv{"MGET", "cmd:alice:a", "cmd:alice:b"});
  CHECK(ok(prepare({"DEL", "a", "b", "c"})) ==
        Argv{"DEL", "cmd:alice:a", "cmd:alice:b", "cmd:alice:c"});
  CHECK(ok(prepare({"RENAME", "a", "b"})) == Argv{"RENAME", "cmd:alice:a", "cmd:alice:b"});
  CHECK(ok(prepare({"LMOVE", "a", "b", "LEFT", "RIGHT"})) ==
        Argv{"LMOVE", "cmd:alice:a", "cmd:alice:b", "LEFT", "RIGHT"});
  CHECK(ok(prepare({"HSET", "h", "f", "v"})) == Argv{"HSET", "cmd:alice:h", "f", "v"});
  CHECK(ok(prepare({"PING"})) == Argv{"PING"});
  // Values are sent as given (the array form): spaces, CR/LF, glob characters.
  CHECK(ok(prepare({"SET", "k", "a b\r\n*"})) == Argv{"SET", "cmd:alice:k", "a b\r\n*"});
}

TEST_CASE("prepare_command: every refusal has its code", "[command]") {
  using namespace command_error;
  CHECK(refused(prepare({})).code == bad_command);
  CHECK(refused(prepare({"FLUSHALL"})).code == forbidden_command);
  CHECK(refused(prepare({"flushall"})).code == forbidden_command);
  CHECK(refused(prepare({"CONFIG", "SET", "dir", "/tmp"})).code == forbidden_command);
  CHECK(refused(prepare({"EVAL", "return 1", "0"})).code == forbidden_command);
  CHECK(refused(prepare({"SUBSCRIBE", "x"})).code == forbidden_command);
  CHECK(refused(prepare({"KEYS", "*"})).code == forbidden_command);
  CHECK(refused(prepare({"HGET", "h", "f"})).code == not_allowed);  // in the table, not allowed
  CHECK(refused(prepare({"NOSUCH", "x"})).code == not_allowed);
  CHECK(refused(prepare({"GET\r\nFLUSHALL"})).code == not_allowed);
  CHECK(refused(prepare({""})).code == not_allowed);
  CHECK(refused(prepare({"GET"})).code == wrong_arity);
  CHECK(refused(prepare({"GET", "a", "b"})).code == wrong_arity);
  CHECK(refused(prepare({"MSET", "a", "1", "b"})).code == wrong_arity);
  CHECK(refused(prepare({"DEL", "a", "b", "c", "d", "e", "f", "g", "h"})).code == too_many_args);
  CHECK(refused(prepare({"SET", "k", std::string(33, 'v')})).code == arg_too_large);
  CHECK(refused(prepare({"MSET", "a", std::string(32, 'v'), "b", std::string(32, 'v'), "c",
                         std::string(32, 'v')}))
            .code == command_too_large);
  CHECK(refused(prepare({"GET", "*"})).code == bad_key);
  CHECK(refused(prepare({"GET", "a?"})).code == bad_key);
  CHECK(refused(prepare({"GET", "[ab]"})).code == bad_key);
  CHECK(refused(prepare({"GET", "a\\b"})).code == bad_key);
  CHECK(refused(prepare({"GET", ""})).code == bad_key);
  CHECK(refused(prepare({"GET", "a b"})).code == bad_key);
  CHECK(refused(prepare({"GET", "a\r\nb"})).code == bad_key);
  CHECK(refused(prepare({"MSET", "a", "1", "b*", "2"})).code == bad_key);
  CHECK(refused(prepare({"RENAME", "a", "*"})).code == bad_key);
  // Sizes are checked before the name: a flood costs nothing more.
  CHECK(refused(prepare({"FLUSHALL", std::string(1000, 'x')})).code == arg_too_large);
}

TEST_CASE("prepare_command: explicit keys must carry the prefix", "[command]") {
  using namespace command_error;
  const auto mode = KeyMode::explicit_prefix;
  CHECK(ok(prepare({"GET", "cmd:alice:k"}, mode)) == Argv{"GET", "cmd:alice:k"});
  CHECK(refused(prepare({"GET", "k"}, mode)).code == key_outside_prefix);
  CHECK(refused(prepare({"GET", "cmd:bob:k"}, mode)).code == key_outside_prefix);
  CHECK(refused(prepare({"GET", "cmd:alice:"}, mode)).code == key_outside_prefix);
  CHECK(refused(prepare({"GET", "cmd:alice"}, mode)).code == key_outside_prefix);
  CHECK(refused(prepare({"RENAME", "cmd:alice:a", "cmd:bob:a"}, mode)).code == key_outside_prefix);
  CHECK(refused(prepare({"GET", "cmd:alice:*"}, mode)).code == bad_key);
}

TEST_CASE("command frames: requests in both forms", "[command]") {
  auto r = parse_command_request(
      R"({"command": "SET key1 15", "sessionId": "s-1", "date": 1700000000000})", 5);
  CHECK(ok(r.command) == Argv{"SET", "key1", "15"});
  CHECK(r.date == "1700000000000");
  CHECK(r.session_id == "s-1");

  r = parse_command_request(R"({"command": ["SET", "k", "a \"b\"\r\n", 42]})", 7);
  CHECK(ok(r.command) == Argv{"SET", "k", "a \"b\"\r\n", "42"});
  CHECK(r.date == "7");
  CHECK_FALSE(r.session_id);

  r = parse_command_request(R"({"command": "GET k", "date": 1.5, "other": {"x": 1}})", 7);
  CHECK(ok(r.command) == Argv{"GET", "k"});
  CHECK(r.date == "1.5");

  for (const std::string& bad :
       {std::string("not json"), std::string("[1]"), std::string("{}"),
        std::string(R"({"command": 5})"), std::string(R"({"command": ["GET", null]})"),
        std::string(R"({"command": ["GET", ["k"]]})"),
        std::string(R"({"command": "GET k", "date": "x"})"),
        std::string(R"({"command": "GET k", "sessionId": 1})"),
        R"({"command": "GET k", "sessionId": ")" + std::string(300, 's') + "\"}",
        std::string("{\"command\": \"GET \xff\"}")}) {
    INFO(bad);
    CHECK(refused(parse_command_request(bad, 1).command).code == command_error::bad_json);
  }
  // The string form's own rules apply after the JSON.
  CHECK(refused(parse_command_request(R"({"command": "SET a 1\r\nFLUSHALL"})", 1).command).code ==
        command_error::bad_command);
}

TEST_CASE("command frames: answers", "[command]") {
  auto request = parse_command_request(R"({"command": "GET k", "sessionId": "s", "date": 17})", 1);

  RespValue status{RespValue::Type::status, "OK", 0, {}};
  auto answer = parsed_json(encode_command_reply(request, status, 1000));
  CHECK(answer == nlohmann::json{{"date", 17}, {"sessionId", "s"}, {"ok", true}, {"result", "OK"}});

  RespValue array{
      RespValue::Type::array,
      "",
      0,
      {RespValue{RespValue::Type::string, "v", 0, {}}, RespValue{RespValue::Type::nil, "", 0, {}},
       RespValue{RespValue::Type::integer, "", -3, {}},
       RespValue{RespValue::Type::string, std::string("\xff\x00\x01", 3), 0, {}},
       RespValue{RespValue::Type::array, "", 0, {}}}};
  answer = parsed_json(encode_command_reply(request, array, 1000));
  CHECK(answer["ok"] == true);
  CHECK(answer["result"] ==
        nlohmann::json::array({"v", nullptr, -3, {{"base64", "/wAB"}}, nlohmann::json::array()}));

  RespValue error{RespValue::Type::error, "WRONGTYPE Operation against a key", 0, {}};
  answer = parsed_json(encode_command_reply(request, error, 1000));
  CHECK(answer["ok"] == false);
  CHECK(answer["error"]["code"] == "redis_error");
  CHECK(answer["error"]["message"] == "WRONGTYPE Operation against a key");

  RespValue big{RespValue::Type::string, std::string(2000, 'x'), 0, {}};
  answer = parsed_json(encode_command_reply(request, big, 1000));
  CHECK(answer["error"]["code"] == "reply_too_large");
  CHECK(reply_bytes(big) > 2000);

  auto bad = parse_command_request("nope", 99);
  answer = parsed_json(encode_command_error(bad, std::get<CommandError>(bad.command)));
  CHECK(answer["date"] == 99);
  CHECK_FALSE(answer.contains("sessionId"));
  CHECK(answer["ok"] == false);
  CHECK(answer["error"]["code"] == "bad_json");
  // Client bytes in a message stay valid JSON whatever they are.
  answer = parsed_json(encode_command_error(
      request, CommandError{command_error::bad_key, std::string("key \"\xff\r\n\"")}));
  CHECK(answer["error"]["code"] == "bad_key");
}
