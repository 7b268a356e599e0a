// A Catch listener that prints the log of every live gateway when an
// assertion fails, once per test case: the daemon's own account of what
// went wrong is usually the fastest diagnosis. It also ignores SIGPIPE for
// the whole run (see testRunStarting).
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <csignal>
#include <iostream>

#include "helpers.hpp"

namespace wsrelay::test {

std::vector<const Gateway*>& live_gateways() {
  static std::vector<const Gateway*> gateways;
  return gateways;
}

namespace {

constexpr std::size_t kLogTail = 8000;

class LogOnFailure : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;

  // Also the one process-wide setting of the test runner: a write to a
  // Redis the test just killed must fail with EPIPE (hiredis uses write()),
  // not kill the runner. Children get default dispositions back (Process).
  void testRunStarting(const Catch::TestRunInfo& info) override {
    TestEventListenerBase::testRunStarting(info);
    std::signal(SIGPIPE, SIG_IGN);
  }

  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    TestEventListenerBase::testCaseStarting(info);
    printed_ = false;
  }

  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk() && !printed_) {
      printed_ = true;
      for (const Gateway* gateway : live_gateways()) {
        std::string log = gateway->log();
        if (log.size() > kLogTail) log = "[...]\n" + log.substr(log.size() - kLogTail);
        std::cerr << "---- wsrelay log (pid " << gateway->pid() << ", port " << gateway->port()
                  << ") ----\n"
                  << log << "---- end of wsrelay log ----\n";
      }
    }
    return TestEventListenerBase::assertionEnded(stats);
  }

 private:
  bool printed_ = false;
};

}  // namespace

CATCH_REGISTER_LISTENER(LogOnFailure)

}  // namespace wsrelay::test
