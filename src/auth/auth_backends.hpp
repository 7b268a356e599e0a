#pragma once
// Factories of the built-in authorization backends; make_authorizer() maps
// `auth.backends` names onto them. Each backend follows the chain contract of
// auth.hpp (allow, deny, or abstain when the request carries no credential of
// its kind).
#include <memory>

#include <wsrelay/auth/auth.hpp>

namespace wsrelay {

// "jwt": a token from `Authorization: Bearer`, the auth.jwt_cookie cookie or
// the auth.jwt_query_param parameter, verified against auth.jwt_keys. No
// token: abstain; a token that does not verify: 401.
// `verifier` holds the keys load_jwt_keys() read (auth.hpp: load_auth).
std::unique_ptr<Authorizer> make_jwt_authorizer(const AuthSettings& config,
                                                std::shared_ptr<const JwtVerifier> verifier);

// Reads the auth.jwt_keys files (the only read of them for one load of the
// configuration) into a verifier. Throws ConfigError("auth.jwt_keys: ...")
// naming a file that cannot be read or holds no key of its kind.
std::shared_ptr<const JwtVerifier> load_jwt_keys(const AuthSettings& config);

// "proxy": identity from the auth.proxy_*_header headers, believed only when
// the TCP peer is in auth.trusted_proxies; from anyone else they are ignored.
std::unique_ptr<Authorizer> make_proxy_authorizer(const AuthSettings& config);

}  // namespace wsrelay
