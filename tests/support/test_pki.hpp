#pragma once
// Certificates for the TLS tests, made by the openssl tool in a temporary
// directory: a CA, a server certificate for localhost and 127.0.0.1 signed
// by it, a client certificate signed by it, and an unrelated CA. P-256 keys:
// generated in milliseconds, unlike RSA. And the redis-server arguments that
// open a TLS port with the server certificate.
#include <cstdint>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace wsrelay::test {

// A server's certificate, its key, and the CA it trusts for clients.
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string ca;
};

class Pki {
 public:
  // Throws std::runtime_error with openssl's output when a step fails.
  Pki();

  // ca.crt, other-ca.crt, server.{crt,key}, client.{crt,key}
  std::string file(const std::string& name) const { return dir_.file(name); }
  TlsFiles server() const { return {file("server.crt"), file("server.key"), file("ca.crt")}; }

 private:
  TempDir dir_{"wsrelay-tls"};
};

// --tls-port, the server's certificate and key, the CA for clients, and
// --tls-auth-clients `auth_clients` ("no", "yes" or "optional").
std::vector<std::string> redis_tls_args(const TlsFiles& tls, std::uint16_t tls_port,
                                        const std::string& auth_clients = "no");

}  // namespace wsrelay::test
