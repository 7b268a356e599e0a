// [publish_api]: keys from the file, the variable and a keys file; the rules
// between keys; secrets never printed; a reload reads the keys file again.
#include <string>

#include <catch2/catch.hpp>

#include <wsrelay/config/config.hpp>

#include "config_error.hpp"
#include "support/temp_dir.hpp"

using namespace wsrelay;
using wsrelay::test::error_of;

TEST_CASE("publish_api: keys from the file, the variable and a keys file", "[config]") {
  test::TempDir dir;
  const std::string file = dir.file("keys");
  test::write_file(file,
                   "# rotation: the new key first\n  new-0123456789abcdef  \n\nold-01234567\n");
  Config c = parse_config_toml(
      "[publish_api]\nenabled = true\nkeys = [\"toml-key-0123456789\"]\nkeys_file = \"" + file +
          "\"\n",
      "f");
  apply_environment(c, {{"WSRELAY_PUBLISH_API_KEYS", "env-a-0123456789,env-b-0123456789"}});
  validate(c);
  CHECK(c.publish_api_enabled);
  CHECK(c.publish_api_key_list == std::vector<std::string>{"env-a-0123456789", "env-b-0123456789",
                                                           "new-0123456789abcdef", "old-01234567"});

  // --check-config never prints a key, and still loads.
  const std::string toml = to_toml(c);
  CHECK(toml.find("env-a-0123456789") == std::string::npos);
  CHECK(toml.find("keys = [\"REDACTED\", \"REDACTED\"]") != std::string::npos);
  CHECK_NOTHROW(parse_config_toml(toml, "check-config"));

  // A reload reads the keys file again: a rotation needs no restart.
  test::write_file(file, "newer-0123456789abcdef\n");
  const Reload reload = plan_reload(c, c);
  CHECK(reload.config.publish_api_key_list ==
        std::vector<std::string>{"env-a-0123456789", "env-b-0123456789", "newer-0123456789abcdef"});
}

TEST_CASE("publish_api: the rules, each with a message naming the key", "[config]") {
  auto error = [](auto change) {
    return error_of([&] {
      Config c;
      change(c);
      validate(c);
    });
  };
  CHECK(error([](Config& c) { c.publish_api_enabled = true; }) ==
        "publish_api.enabled: needs at least one key in publish_api.keys or "
        "publish_api.keys_file (WSRELAY_PUBLISH_API_KEYS)");
  CHECK_THAT(error([](Config& c) {
               c.publish_api_enabled = true;
               c.publish_api_keys = {"good-0123456789", "has space"};
             }),
             Catch::StartsWith("publish_api.keys: key 2 has a character that is not visible"));
  CHECK_THAT(error([](Config& c) { c.publish_api_keys = {""}; }),
             Catch::StartsWith("publish_api.keys: key 1 is empty"));
  CHECK_THAT(error([](Config& c) { c.publish_api_keys_file = "/nonexistent/keys"; }),
             Catch::StartsWith("publish_api.keys_file: cannot read \"/nonexistent/keys\""));
  CHECK(error([](Config& c) {
          c.publish_api_admin_only = true;
          c.publish_api_keys = {"k-0123456789abcdef"};
        }) == "publish_api.admin_only: needs server.admin_listen (the listener it is served on)");
  CHECK_THAT(error([](Config& c) { c.publish_api_max_body_bytes = 0; }),
             Catch::StartsWith("publish_api.max_body_bytes: "));
  CHECK(error([](Config& c) {
          c.publish_api_enabled = true;
          c.publish_api_admin_only = true;
          c.admin_listen = "127.0.0.1:0";
          c.publish_api_keys = {"k-0123456789abcdef"};
        }) == "<no ConfigError>");

  // A bad line of the keys file is named by its number, never quoted.
  test::TempDir dir;
  test::write_file(dir.file("keys"), "ok-0123456789abcdef\nsecret with\ttab\n");
  const std::string message = error([&](Config& c) { c.publish_api_keys_file = dir.file("keys"); });
  CHECK_THAT(message, Catch::Contains("line 2 has a character"));
  CHECK(message.find("secret") == std::string::npos);
}
