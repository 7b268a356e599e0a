// The client TLS context of rediss:// connections. Also the one translation
// unit that compiles Asio's SSL support (BOOST_ASIO_SEPARATE_COMPILATION):
// only the backend links OpenSSL's libssl, so it is not in boost_impl.cpp,
// which the fuzz targets link without it.
#include <wsrelay/backend/redis_tls.hpp>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/impl/src.hpp>

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace wsrelay {
namespace {

namespace ssl = boost::asio::ssl;

void load(const char* key, const std::string& file, const auto& action) {
  boost::system::error_code ec;
  action(ec);
  if (ec) throw std::runtime_error(fmt::format("redis.{}: {}: {}", key, file, ec.message()));
}

}  // namespace

std::shared_ptr<ssl::context> make_redis_tls_context(const RedisSettings& settings) {
  if (!settings.redis || !settings.redis->tls) return nullptr;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  // TLS 1.2 at least, as every managed Redis service offers.
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  if (!settings.redis_tls_verify) {
    context->set_verify_mode(ssl::verify_none);
    return context;
  }
  context->set_verify_mode(ssl::verify_peer);
  const std::string& ca = settings.redis_tls_ca_file;
  if (ca.empty()) {
    load("tls_ca_file", "(the system's CAs)",
         [&](auto& ec) { context->set_default_verify_paths(ec); });
  } else {
    load("tls_ca_file", ca, [&](auto& ec) { context->load_verify_file(ca, ec); });
  }
  if (!settings.redis_tls_cert_file.empty()) {
    const std::string& cert = settings.redis_tls_cert_file;
    const std::string& key = settings.redis_tls_key_file;
    load("tls_cert_file", cert, [&](auto& ec) { context->use_certificate_chain_file(cert, ec); });
    load("tls_key_file", key,
         [&](auto& ec) { context->use_private_key_file(key, ssl::context::pem, ec); });
  }
  return context;
}

}  // namespace wsrelay
