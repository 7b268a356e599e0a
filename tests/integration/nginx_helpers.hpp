#pragma once
// Debian's nginx with config/nginx/wsrelay.conf in front of gateways, for the
// deployment tests (test_deploy_nginx.cpp, test_scaling_nginx.cpp). The
// including file needs WSRELAY_SOURCE_DIR (tests/CMakeLists.txt).
#include <unistd.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "helpers.hpp"

namespace wsrelay::test {

// Replaces every `from` in `text`; throws when there is none.
inline void replace_all(std::string& text, const std::string& from, const std::string& to) {
  std::size_t at = text.find(from);
  if (at == std::string::npos)
    throw std::runtime_error("config/nginx/wsrelay.conf no longer has \"" + from + "\"");
  for (; at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

struct NginxOptions {
  std::string read_timeout;         // replaces the file's 120s, when set
  bool host_not_http_host = false;  // the mistake the docs used to recommend
};

// nginx (master and one worker) with the shipped site file, on free ports:
// http_port() plain, https_port() TLS with a throw-away certificate.
// Stopped with SIGTERM (workers first, by their master), then by PID.
class Nginx {
 public:
  Nginx(std::uint16_t gateway_port, const NginxOptions& options = {})
      : Nginx(std::vector<std::uint16_t>{gateway_port}, options) {}
  // Several gateways in the upstream: the first replaces the file's server
  // line, the others its commented examples (at most two).
  Nginx(const std::vector<std::uint16_t>& gateway_ports, const NginxOptions& options = {}) {
    if (gateway_ports.empty() || gateway_ports.size() > 3)
      throw std::runtime_error("Nginx: one to three gateways");
    if (::access("/usr/sbin/nginx", X_OK) != 0)
      throw std::runtime_error("/usr/sbin/nginx is missing: run scripts/install-deps.sh");
    Process cert({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                  "-keyout", dir_.file("key.pem"), "-out", dir_.file("cert.pem")},
                 dir_.file("openssl.log"));
    if (cert.wait_exit(20s) != 0)
      throw std::runtime_error("openssl req failed: " + cert.log_contents());

    for (int attempt = 0; attempt < 2; ++attempt) {
      http_port_ = free_port();
      https_port_ = free_port();
      std::string site = read_file(std::string(WSRELAY_SOURCE_DIR) + "/config/nginx/wsrelay.conf");
      replace_all(site, "listen 80;", "listen 127.0.0.1:" + std::to_string(http_port_) + ";");
      replace_all(site, "listen 443 ssl;",
                  "listen 127.0.0.1:" + std::to_string(https_port_) + " ssl;");
      replace_all(site, "listen [::]:80;", "");
      replace_all(site, "listen [::]:443 ssl;", "");
      replace_all(site, "server 127.0.0.1:8080;",
                  "server 127.0.0.1:" + std::to_string(gateway_ports[0]) + ";");
      for (std::size_t i = 1; i < gateway_ports.size(); ++i)
        replace_all(site, "# server 127.0.0.1:808" + std::to_string(i) + ";",
                    "server 127.0.0.1:" + std::to_string(gateway_ports[i]) + ";");
      replace_all(site, "/etc/ssl/certs/ssl-cert-snakeoil.pem", dir_.file("cert.pem"));
      replace_all(site, "/etc/ssl/private/ssl-cert-snakeoil.key", dir_.file("key.pem"));
      if (!options.read_timeout.empty()) {
        replace_all(site, "proxy_read_timeout 120s;",
                    "proxy_read_timeout " + options.read_timeout + ";");
        replace_all(site, "proxy_send_timeout 120s;",
                    "proxy_send_timeout " + options.read_timeout + ";");
      }
      if (options.host_not_http_host)
        replace_all(site, "proxy_set_header Host $http_host;", "proxy_set_header Host $host;");
      write_file(dir_.file("wsrelay.conf"), site);
      const std::string d = dir_.path();
      write_file(dir_.file("nginx.conf"),
                 "daemon off;\nworker_processes 1;\npid " + d + "/nginx.pid;\n" + "error_log " + d +
                     "/error.log info;\nevents { worker_connections 256; }\n" +
                     "http {\n  access_log " + d + "/access.log;\n  client_body_temp_path " + d +
                     "/body;\n  proxy_temp_path " + d + "/proxy;\n  fastcgi_temp_path " + d +
                     "/fastcgi;\n  uwsgi_temp_path " + d + "/uwsgi;\n  scgi_temp_path " + d +
                     "/scgi;\n  include " + d + "/wsrelay.conf;\n}\n");
      // nginx -t first: a syntax error is reported as such, not as a timeout.
      Process check({"/usr/sbin/nginx", "-t", "-e", dir_.file("error.log"), "-p", d, "-c",
                     dir_.file("nginx.conf")},
                    dir_.file("check.log"));
      if (check.wait_exit(20s) != 0)
        throw std::runtime_error("nginx -t failed: " + check.log_contents());
      process_ = std::make_unique<Process>(
          std::vector<std::string>{"/usr/sbin/nginx", "-e", dir_.file("error.log"), "-p", d, "-c",
                                   dir_.file("nginx.conf")},
          dir_.file("nginx.log"));
      const bool up = wait_until(
          [&] {
            if (!process_->running()) return true;
            try {
              return http_get(http_port_, "/healthz", {}, 1s).status != 0;
            } catch (const std::exception&) {
              return false;
            }
          },
          15s, 20ms);
      if (up && process_->running()) return;
      process_.reset();  // a port taken meanwhile: once more on fresh ones
    }
    throw std::runtime_error("nginx did not start: " + read_file(dir_.file("error.log")));
  }

  ~Nginx() {
    if (!process_) return;
    process_->signal(SIGTERM);
    process_->wait_exit(10s);
  }

  std::uint16_t http_port() const { return http_port_; }
  std::uint16_t https_port() const { return https_port_; }
  std::string error_log() const { return read_file(dir_.file("error.log")); }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_{"wsrelay-nginx"};
  std::unique_ptr<Process> process_;
  std::uint16_t http_port_ = 0;
  std::uint16_t https_port_ = 0;
};

// The headers a browser sends for a page served by nginx on `port`.
inline Headers browser(std::uint16_t port, const std::string& scheme = "http") {
  return {{"Host", "127.0.0.1:" + std::to_string(port)},
          {"Origin", scheme + "://127.0.0.1:" + std::to_string(port)}};
}

inline std::unique_ptr<WsClient> open_through(const Nginx& nginx, const std::string& target) {
  auto client = std::make_unique<WsClient>();
  const HandshakeResult result =
      client->connect(nginx.http_port(), target, browser(nginx.http_port()));
  INFO("handshake through nginx " << target << " -> " << result.status << " " << result.body);
  REQUIRE(result.status == 101);
  return client;
}

}  // namespace wsrelay::test
