#include "support/test_pki.hpp"

#include <stdexcept>

#include "support/process.hpp"
#include "support/wait.hpp"

namespace wsrelay::test {
namespace {

void openssl(const TempDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "openssl");
  Process process(args, dir.file("openssl.log"));
  if (process.wait_exit(30s) != 0)
    throw std::runtime_error("openssl " + args.at(1) + " failed: " + process.log_contents());
}

}  // namespace

Pki::Pki() {
  const std::vector<std::string> ec{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                    "-nodes"};
  auto self_signed = [&](const std::string& name, const std::string& cn) {
    std::vector<std::string> args{"req", "-x509", "-days", "2", "-subj", "/CN=" + cn};
    args.insert(args.end(), ec.begin(), ec.end());
    args.insert(args.end(), {"-keyout", file(name + ".key"), "-out", file(name + ".crt")});
    openssl(dir_, args);
  };
  auto signed_by_ca = [&](const std::string& name, const std::string& cn,
                          const std::string& extensions) {
    std::vector<std::string> req{"req", "-subj", "/CN=" + cn};
    req.insert(req.end(), ec.begin(), ec.end());
    req.insert(req.end(), {"-keyout", file(name + ".key"), "-out", file(name + ".csr")});
    openssl(dir_, req);
    write_file(file(name + ".ext"), extensions + "\n");
    openssl(dir_, {"x509", "-req", "-days", "2", "-in", file(name + ".csr"), "-CA", file("ca.crt"),
                   "-CAkey", file("ca.key"), "-CAcreateserial", "-extfile", file(name + ".ext"),
                   "-out", file(name + ".crt")});
  };
  self_signed("ca", "wsrelay test CA");
  self_signed("other-ca", "another CA");
  signed_by_ca("server", "localhost", "subjectAltName=DNS:localhost,IP:127.0.0.1");
  signed_by_ca("client", "wsrelay", "extendedKeyUsage=clientAuth");
}

std::vector<std::string> redis_tls_args(const TlsFiles& tls, std::uint16_t tls_port,
                                        const std::string& auth_clients) {
  return {"--tls-port",         std::to_string(tls_port),
          "--tls-cert-file",    tls.cert,
          "--tls-key-file",     tls.key,
          "--tls-ca-cert-file", tls.ca,
          "--tls-auth-clients", auth_clients};
}

}  // namespace wsrelay::test
