// The HTTP publish API's requests (JSON and query + binary body), its key
// check and its error bodies, fed values.
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <wsrelay/gateway/publish_request.hpp>

using namespace wsrelay;

namespace {

PublishRequest ok(const ParsedPublishRequest& parsed) {
  if (const auto* error = std::get_if<PublishRequestError>(&parsed)) FAIL(error->message);
  return std::get<PublishRequest>(parsed);
}

PublishRequestError refused(const ParsedPublishRequest& parsed) {
  REQUIRE(std::holds_alternative<PublishRequestError>(parsed));
  return std::get<PublishRequestError>(parsed);
}

}  // namespace

TEST_CASE("publish JSON: every field", "[publish_api]") {
  const auto r = ok(parse_publish_json(
      R"({"facility":"chat","broadcast":true,"users":["john","jane"],"groups":["staff"],)"
      R"("sessions":["k1"],"message":"h\u00e9 \"x\"","expire":60})"));
  CHECK(r.target.facility == "chat");
  CHECK(r.target.broadcast);
  CHECK(r.target.users == std::vector<std::string>{"john", "jane"});
  CHECK(r.target.groups == std::vector<std::string>{"staff"});
  CHECK(r.target.sessions == std::vector<std::string>{"k1"});
  CHECK(r.message == "h\xc3\xa9 \"x\"");
  CHECK(r.expire_seconds == 60);
  const auto minimal = ok(parse_publish_json(R"({"facility":"f","users":["u"],"message":""})"));
  CHECK_FALSE(minimal.expire_seconds);
  CHECK(ok(parse_publish_json(R"({"facility":"f","broadcast":true,"message":"m","expire":0})"))
            .expire_seconds == 0);
}

TEST_CASE("publish JSON: bad input gets a clear 400", "[publish_api]") {
  struct Case {
    const char* body;
    const char* says;
  };
  const std::vector<Case> cases{
      {"", "malformed JSON at byte"},
      {"{", "malformed JSON"},
      {R"({"facility":"f",})", "malformed JSON"},
      {"\"\xff\"", "malformed JSON"},  // invalid UTF-8
      {"[1]", "must be a JSON object"},
      {"42", "must be a JSON object"},
      {R"({"broadcast":true,"message":"m"})", "missing \"facility\""},
      {R"({"facility":"f","broadcast":true})", "missing \"message\""},
      {R"({"facility":1,"broadcast":true,"message":"m"})", "\"facility\" must be a string"},
      {R"({"facility":"f","broadcast":true,"message":1})", "\"message\" must be a string"},
      {R"({"facility":"f","broadcast":true,"message":null})", "\"message\" must be a string"},
      {R"({"facility":"f","broadcast":"yes","message":"m"})", "\"broadcast\" must be true"},
      {R"({"facility":"f","users":"john","message":"m"})", "\"users\" must be an array"},
      {R"({"facility":"f","users":[1],"message":"m"})", "\"users\" must be an array of strings"},
      {R"({"facility":"f","groups":[["g"]],"message":"m"})", "nested too deep"},
      {R"({"facility":"f","sessions":{},"message":"m"})", "\"sessions\" must be an array"},
      {R"({"facility":"f","broadcast":true,"message":"m","expire":1.5})", "whole number"},
      {R"({"facility":"f","broadcast":true,"message":"m","expire":-1})", "from 0 to"},
      {R"({"facility":"f","broadcast":true,"message":"m","expire":99999999999})", "from 0 to"},
      {R"({"facility":"f","broadcast":true,"message":"m","user":["x"]})", "unknown field \"user\""},
      {R"({"facility":"a:b","broadcast":true,"message":"m"})", "facility must be"},
      {R"({"facility":"f","message":"m"})", "no audience"},
      {R"({"facility":"f","broadcast":false,"users":[],"message":"m"})", "no audience"},
      {R"({"facility":"f","users":[""],"message":"m"})", "an empty user name"},
  };
  for (const Case& c : cases) {
    INFO(c.body);
    const auto error = refused(parse_publish_json(c.body));
    CHECK(error.status == 400);
    CHECK_THAT(error.message, Catch::Contains(c.says));
  }
  // Deep nesting is refused without building it.
  const std::string deep =
      R"({"facility":"f","x":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK(refused(parse_publish_json(deep)).status == 400);
}

TEST_CASE("publish: a fan-out too large for one request is 413", "[publish_api]") {
  std::string users;
  for (std::size_t i = 0; i <= max_publish_channels; ++i)
    users += (i ? ",\"u" : "\"u") + std::to_string(i) + "\"";
  const auto many =
      refused(parse_publish_json(R"({"facility":"f","message":"m","users":[)" + users + "]}"));
  CHECK(many.status == 413);
  CHECK_THAT(many.message, Catch::Contains("at most 1000"));
  const std::string big(max_publish_fanout_bytes / 2 + 1, 'x');
  const auto heavy = refused(parse_publish_query("facility=f&user=a&user=b", big));
  CHECK(heavy.status == 413);
  CHECK(std::holds_alternative<PublishRequest>(parse_publish_query("facility=f&user=a", big)));
}

TEST_CASE("publish query form: target from the query, any bytes as the message", "[publish_api]") {
  const std::string binary("\x00\xff\x80", 3);
  const auto r = ok(parse_publish_query(
      "facility=chat&broadcast&user=john&user=j%C3%A9&group=a%20b&session=k&expire=5", binary));
  CHECK(r.target.facility == "chat");
  CHECK(r.target.broadcast);
  CHECK(r.target.users == std::vector<std::string>{"john", "j\xc3\xa9"});
  CHECK(r.target.groups == std::vector<std::string>{"a b"});
  CHECK(r.target.sessions == std::vector<std::string>{"k"});
  CHECK(r.expire_seconds == 5);
  CHECK(r.message == binary);
  CHECK(ok(parse_publish_query("facility=f&broadcast=true", "")).target.broadcast);

  struct Case {
    const char* query;
    const char* says;
  };
  for (const Case c : std::vector<Case>{
           {"", "missing facility"},
           {"broadcast", "missing facility"},
           {"facility=f", "no audience"},
           {"facility=f&broadcast=0", "no audience"},
           {"facility=f&broadcast=maybe", "broadcast must be"},
           {"facility=f&broadcast&expire=x", "expire must be"},
           {"facility=f&broadcast&expire=-1", "expire must be"},
           {"facility=f&broadcast&users=x", "unknown query parameter"},
           {"facility=f%3Ax&broadcast", "facility must be"},
           {"facility=f&user=%zz", "malformed percent-escape"},
           {"facility=f&user=", "an empty user name"},
       }) {
    INFO(c.query);
    const auto error = refused(parse_publish_query(c.query, "m"));
    CHECK(error.status == 400);
    CHECK_THAT(error.message, Catch::Contains(c.says));
  }
}

TEST_CASE("publish API keys: Bearer, any of several, exact", "[publish_api]") {
  const std::vector<std::string> keys{"old-key-0123456789abcdef", "new-key-0123456789abcdef"};
  CHECK(publish_key_accepted("Bearer old-key-0123456789abcdef", keys));
  CHECK(publish_key_accepted("Bearer new-key-0123456789abcdef", keys));
  CHECK(publish_key_accepted("bearer new-key-0123456789abcdef", keys));
  CHECK_FALSE(publish_key_accepted("", keys));
  CHECK_FALSE(publish_key_accepted("Bearer ", keys));
  CHECK_FALSE(publish_key_accepted("Bearer new-key-0123456789abcde", keys));    // a prefix
  CHECK_FALSE(publish_key_accepted("Bearer new-key-0123456789abcdeff", keys));  // longer
  CHECK_FALSE(publish_key_accepted("Bearer NEW-KEY-0123456789ABCDEF", keys));
  CHECK_FALSE(publish_key_accepted("Basic new-key-0123456789abcdef", keys));
  CHECK_FALSE(publish_key_accepted("new-key-0123456789abcdef", keys));
  CHECK_FALSE(publish_key_accepted("Bearer new-key-0123456789abcdef", {}));
}

TEST_CASE("publish error bodies are JSON whatever the text", "[publish_api]") {
  const auto body = publish_error_json("bad \"x\" \xff\n");
  const auto parsed = nlohmann::json::parse(body);
  CHECK(parsed.at("error").get<std::string>().starts_with("bad \"x\" "));
}
