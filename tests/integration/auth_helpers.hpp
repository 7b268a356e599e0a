#pragma once
// Shared pieces of the authorization tests: verification keys written to a
// private directory, the handshake status of a target with headers, and
// proving that a client is NOT subscribed to a channel.
#include <string>

#include "helpers.hpp"
#include "support/jwt_mint.hpp"
#include "support/temp_dir.hpp"

namespace wsrelay::test {

// An HS256 secret and two RS256 keys (kids "k1", "k2"), as files.
struct JwtKeyFiles {
  TempDir dir{"wsrelay-auth"};
  SigningKey hs = SigningKey::hs256("integration-test-secret-of-at-least-32-bytes");
  SigningKey rs1 = SigningKey::rs256();
  SigningKey rs2 = SigningKey::rs256();

  JwtKeyFiles() {
    hs.write_verification_key(dir.file("hs.key"));
    rs1.write_verification_key(dir.file("rs1.pem"));
    rs2.write_verification_key(dir.file("rs2.pem"));
  }
  // The value of auth.jwt_keys (a comma-separated list for --set).
  std::string jwt_keys() const {
    return "HS256 " + dir.file("hs.key") + ",RS256 " + dir.file("rs1.pem") + " k1,RS256 " +
           dir.file("rs2.pem") + " k2";
  }
};

inline HandshakeResult handshake(const Gateway& gateway, const std::string& target,
                                 const Headers& headers = {}) {
  WsClient client;
  return client.connect(gateway.port(), target, headers);
}

inline Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

// With `client` subscribed to `own` (already synced): publishes `payload` on
// `other`, then a marker on `own`; true when the marker is the next thing
// the client receives, i.e. nothing from `other` came first.
inline bool not_delivered(RedisSync& redis, WsClient& client, const std::string& own,
                          const std::string& other) {
  static int round = 0;
  const std::string marker = "marker-" + std::to_string(++round);
  redis.publish(other, "must-not-arrive");
  redis.publish(own, marker);
  auto m = client.read(5s);
  return m && m->data == marker;
}

}  // namespace wsrelay::test
