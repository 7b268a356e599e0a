// The Django bridge (examples/django) behind the real gateway: Debian's
// python3-django runs the demo site's dev server, users log in through
// Django's own session machinery, and the gateway's callback backend asks the
// site who each connection belongs to.
#include <fstream>
#include <sstream>

#include "helpers.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace wsrelay::test;

namespace {

// Debian's interpreter, where python3-django is installed (a python3 earlier
// in PATH, such as a virtualenv's, may not have it).
const std::string kPython = "/usr/bin/python3";
const std::string kDjangoDir = std::string(WSRELAY_SOURCE_DIR) + "/examples/django";

class DjangoSite {
 public:
  DjangoSite() : env_{"WSRELAY_DEMO_DIR=" + dir_.path(), "PYTHONDONTWRITEBYTECODE=1"} {
    REQUIRE(manage({"migrate", "--noinput"}, "migrate.log") == 0);
  }

  // Runs manage.py to completion (deadline 40 s); returns its exit status.
  int manage(std::vector<std::string> args, const std::string& log) {
    std::vector<std::string> argv{kPython, kDjangoDir + "/manage.py"};
    argv.insert(argv.end(), args.begin(), args.end());
    Process process(argv, dir_.file(log), env_);
    const auto status = process.wait_exit(40s);
    INFO("manage.py " << args.front() << ":\n" << process.log_contents());
    REQUIRE(status);
    return *status;
  }

  // Logs `user` in on a new Django session; returns the session key.
  std::string login(const std::string& user, std::vector<std::string> groups = {}) {
    std::vector<std::string> args{"demo_session", user};
    for (const auto& g : groups) {
      args.push_back("--group");
      args.push_back(g);
    }
    const std::string log = "login-" + user + ".log";
    REQUIRE(manage(args, log) == 0);
    std::ifstream in(dir_.file(log));
    std::string key;
    in >> key;
    REQUIRE(key.size() >= 32);
    return key;
  }

  // Starts the dev server on a free port and waits until it answers.
  void serve() {
    port_ = free_port();
    server_ = std::make_unique<Process>(
        std::vector<std::string>{kPython, kDjangoDir + "/manage.py", "runserver", "--noreload",
                                 "127.0.0.1:" + std::to_string(port_)},
        dir_.file("runserver.log"), env_);
    bool answered = false;
    wait_until(
        [&] {
          try {
            answered = http_get(port_, "/wsrelay/auth/", {}, 1s).status == 200;
          } catch (const std::exception&) {
          }
          return answered || !server_->running();
        },
        30s, 100ms);
    INFO("runserver:\n" << server_->log_contents());
    REQUIRE(server_->running());
    REQUIRE(answered);
  }

  std::string callback_url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/wsrelay/auth/";
  }

 private:
  TempDir dir_{"wsrelay-django"};
  std::vector<std::string> env_;
  std::uint16_t port_ = 0;
  std::unique_ptr<Process> server_;  // killed by PID when the test ends
};

}  // namespace

TEST_CASE("django bridge: a logged-in user gets its own, group and session channels",
          "[auth_callback][django]") {
  DjangoSite site;
  const std::string alice = site.login("alice", {"staff"});
  const std::string bob = site.login("bob", {"ops"});
  site.serve();
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "auth.backends=callback", "--set",
                                         "auth.callback_url=" + site.callback_url()}));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  RedisSync sync(redis.port());

  auto client =
      open_ws(gateway, "/ws/chat?subscribe-user&subscribe-group&subscribe-session&publish-user",
              {{"Cookie", "sessionid=" + alice}});
  sync_subscription(sync, *client, "user:alice:chat");
  sync_subscription(sync, *client, "group:staff:chat");
  sync_subscription(sync, *client, "session:" + alice + ":chat");
  // Bob's channels, his group and his session stay his.
  sync.publish("user:bob:chat", "for bob");
  sync.publish("group:ops:chat", "for ops");
  sync.publish("session:" + bob + ":chat", "for bob's session");
  sync.publish("user:alice:chat", "marker");
  std::optional<Received> m = client->read(5s);
  REQUIRE(m);
  CHECK(m->data == "marker");

  // A logged-in user may publish (the demo's allowed-channels rule).
  RedisSubscriberProbe probe(redis.port(), {"user:alice:chat"});
  REQUIRE(client->send_text("from alice"));
  CHECK(probe.next_message(5s) == "from alice");
}

TEST_CASE("django bridge: an anonymous visitor has no user channel and may not publish",
          "[auth_callback][django]") {
  DjangoSite site;
  site.login("alice");
  site.serve();
  RedisServer redis;
  TestGateway gateway(with_redis(redis, {"--set", "auth.backends=callback", "--set",
                                         "auth.callback_url=" + site.callback_url()}));
  REQUIRE(wait_readyz(gateway, 200, 10s));
  RedisSync sync(redis.port());

  // No session cookie, and a forged one: both are anonymous to Django.
  for (const Headers& headers : {Headers{}, Headers{{"Cookie", "sessionid=forged-key"}}}) {
    auto client = open_ws(
        gateway, "/ws/chat?subscribe-user&subscribe-session&subscribe-broadcast&publish-broadcast",
        headers);
    sync_subscription(sync, *client, "broadcast:chat");
    sync.publish("user:alice:chat", "for alice");
    sync.publish("user::chat", "for nobody");
    sync.publish("session:forged-key:chat", "forged session");
    sync.publish("broadcast:chat", "marker");
    std::optional<Received> m = client->read(5s);
    REQUIRE(m);
    CHECK(m->data == "marker");
    // The hook dropped publish-broadcast for anonymous visitors.
    REQUIRE(client->send_text("anonymous publish"));
    CHECK(client->wait_close(5s) == 1008);
  }
}
