// config/systemd/wsrelay.service and the daemon's side of Type=notify.
// systemd is not PID 1 where the tests run, so the unit is checked with
// systemd-analyze (verify, and the offline security review), and the
// notifications are read from $NOTIFY_SOCKET by the test itself, the way
// systemd reads them: one datagram per sd_notify() call.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>

#include <wsrelay/config/config.hpp>

#include "helpers.hpp"

using namespace wsrelay::test;

namespace {

const std::string kUnit = std::string(WSRELAY_SOURCE_DIR) + "/config/systemd/wsrelay.service";

// The number after `key=` in the unit, -1 when absent.
long unit_number(const std::string& unit, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(unit, m, std::regex("\n" + key + "=([0-9]+)"))) return -1;
  return std::stol(m[1]);
}

// Runs `argv` to its end; its exit status and output.
std::pair<std::optional<int>, std::string> run(const std::vector<std::string>& argv) {
  TempDir dir;
  Process p(argv, dir.file("out.log"));
  auto status = p.wait_exit(60s);
  return {status, p.log_contents()};
}

// A datagram socket standing in for systemd's notification socket.
class NotifySocket {
 public:
  NotifySocket() : path_(dir_.file("notify")) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
      throw std::runtime_error("cannot bind " + path_);
  }
  ~NotifySocket() { ::close(fd_); }
  const std::string& path() const { return path_; }

  // The next datagram, nullopt when none comes within `timeout`.
  std::optional<std::string> next(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
  }

 private:
  TempDir dir_{"wsrelay-notify"};
  std::string path_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("systemd: the unit passes systemd-analyze verify and its security review rates it OK",
          "[systemd]") {
  REQUIRE(::access("/usr/bin/systemd-analyze", X_OK) == 0);
  std::string unit = read_file(kUnit);
  REQUIRE(unit.find("ExecStart=/usr/local/bin/wsrelay ") != std::string::npos);
  // verify checks that ExecStart's program exists: point it at the build's.
  TempDir dir;
  unit.replace(unit.find("/usr/local/bin/wsrelay"), 22, WSRELAY_BINARY);
  std::ofstream(dir.file("wsrelay.service")) << unit;

  auto [verified, verify_out] = run({"systemd-analyze", "verify", dir.file("wsrelay.service")});
  INFO(verify_out);
  CHECK(verified == 0);
  CHECK(verify_out.find("wsrelay.service:") == std::string::npos);  // no warning about a line

  auto [reviewed, review_out] = run(
      {"systemd-analyze", "security", "--offline=true", "--no-pager", dir.file("wsrelay.service")});
  INFO(review_out);
  CHECK(reviewed == 0);
  std::smatch level;
  REQUIRE(std::regex_search(
      review_out, level,
      std::regex("Overall exposure level for wsrelay.service: ([0-9.]+) (\\w+)")));
  CHECK((level[2] == "OK" || level[2] == "SAFE"));

  // What the daemon's own defaults need from the unit.
  const wsrelay::Config defaults;
  CHECK(unit.find("\nType=notify\n") != std::string::npos);
  CHECK(unit.find("\nExecReload=/bin/kill -HUP $MAINPID\n") != std::string::npos);
  CHECK(unit_number(unit, "RestartPreventExitStatus") == 2);  // a configuration error
  CHECK(unit_number(unit, "TimeoutStopSec") > defaults.shutdown_timeout_seconds);
  CHECK(unit_number(unit, "LimitNOFILE") > static_cast<long>(defaults.max_connections));
}

TEST_CASE("systemd: cmake --install puts the unit, the configuration and the nginx file in place",
          "[systemd]") {
  // DESTDIR, as a package build does: the files name the real prefix
  // (/usr/local by default), and land under the staging directory.
  TempDir stage{"wsrelay-install"};
  const std::string prefix = WSRELAY_INSTALL_PREFIX;
  const std::string root = stage.path() + prefix;
  std::string install_out;
  {
    Process install({"cmake", "--install", WSRELAY_BUILD_DIR}, stage.file("install.log"),
                    {"DESTDIR=" + stage.path()});
    const auto installed = install.wait_exit(60s);
    install_out = install.log_contents();
    INFO(install_out);
    REQUIRE(installed == 0);
  }
  CHECK(::access((root + "/bin/wsrelay").c_str(), X_OK) == 0);
  CHECK(read_file(root + "/etc/wsrelay/wsrelay.toml") ==
        read_file(std::string(WSRELAY_SOURCE_DIR) + "/config/wsrelay.toml"));
  CHECK(read_file(root + "/share/wsrelay/nginx/wsrelay.conf") ==
        read_file(std::string(WSRELAY_SOURCE_DIR) + "/config/nginx/wsrelay.conf"));
  std::string unit = read_file(root + "/lib/systemd/system/wsrelay.service");
  CHECK_THAT(unit, Catch::Contains("\nExecStart=" + prefix + "/bin/wsrelay --config " + prefix +
                                   "/etc/wsrelay/wsrelay.toml\n"));
  // The installed unit is valid where it will run: verify it with its
  // program looked up under the staging directory.
  unit.replace(unit.find("ExecStart=" + prefix), 10 + prefix.size(), "ExecStart=" + root);
  std::ofstream(stage.file("wsrelay.service")) << unit;
  auto [verified, verify_out] = run({"systemd-analyze", "verify", stage.file("wsrelay.service")});
  INFO(verify_out);
  CHECK(verified == 0);
  // And the installed configuration is one the daemon accepts.
  auto [checked, check_out] = run(
      {root + "/bin/wsrelay", "--config", root + "/etc/wsrelay/wsrelay.toml", "--check-config"});
  INFO(check_out);
  CHECK(checked == 0);
}

TEST_CASE("systemd: READY=1 once listening, RELOADING=1 and READY=1 around SIGHUP, STOPPING=1",
          "[systemd]") {
  NotifySocket notify;
  TestGateway gateway({}, {"NOTIFY_SOCKET=" + notify.path()});
  auto ready = notify.next(10s);
  REQUIRE(ready);
  CHECK(*ready == "READY=1\nSTATUS=listening on 127.0.0.1:" + std::to_string(gateway.port()));
  CHECK(get_status(gateway, "/healthz") == 200);  // READY=1 came after listen()

  gateway.signal(SIGHUP);
  auto reloading = notify.next(10s);
  REQUIRE(reloading);
  CHECK_THAT(*reloading, Catch::StartsWith("RELOADING=1\nMONOTONIC_USEC="));
  auto reloaded = notify.next(10s);
  REQUIRE(reloaded);
  CHECK(*reloaded == "READY=1\nSTATUS=reloaded");

  gateway.signal(SIGTERM);
  auto stopping = notify.next(10s);
  REQUIRE(stopping);
  CHECK_THAT(*stopping, Catch::StartsWith("STOPPING=1\n"));
  CHECK(gateway.wait_exit(15s) == 0);
  CHECK_FALSE(notify.next(200ms));  // nothing after STOPPING=1
}
