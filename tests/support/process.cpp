#include "support/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace wsrelay::test {
namespace {

constexpr int kUnknownExitStatus = -1000;

std::vector<std::string> build_environment(const std::vector<std::string>& extra_env,
                                           const std::vector<std::string>& drop_prefixes) {
  auto name_of = [](const std::string& entry) { return entry.substr(0, entry.find('=')); };
  std::vector<std::string> result;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    bool drop = false;
    for (const auto& prefix : drop_prefixes) {
      if (entry.rfind(prefix, 0) == 0) drop = true;
    }
    for (const auto& extra : extra_env) {
      if (name_of(extra) == name_of(entry)) drop = true;
    }
    if (!drop) result.push_back(std::move(entry));
  }
  result.insert(result.end(), extra_env.begin(), extra_env.end());
  return result;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (auto& s : strings) result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

}  // namespace

Process::Process(std::vector<std::string> argv, std::string log_path,
                 std::vector<std::string> extra_env, std::vector<std::string> drop_env_prefixes)
    : log_path_(std::move(log_path)) {
  if (argv.empty()) throw std::runtime_error("Process: empty argv");
  std::vector<std::string> env = build_environment(extra_env, drop_env_prefixes);
  std::vector<char*> argv_c = c_strings(argv);
  std::vector<char*> env_c = c_strings(env);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  // Sockets of the test process (hiredis connections, listeners) must not
  // leak into the child, or they would outlive the test's own close().
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);

  // The child starts with default signal dispositions and an empty mask
  // whatever the test runner did, so SIGTERM/SIGINT reach it.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults;
  sigfillset(&defaults);
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  const int rc = ::posix_spawnp(&pid_, argv_c[0], &actions, &attr, argv_c.data(), env_c.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
}

Process::~Process() {
  if (pid_ <= 0 || exit_status_) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

void Process::signal(int sig) {
  if (pid_ > 0 && !exit_status_) ::kill(pid_, sig);
}

void Process::record_status(int status) {
  if (WIFEXITED(status)) {
    exit_status_ = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    exit_status_ = -WTERMSIG(status);
  }
}

bool Process::running() {
  if (pid_ <= 0 || exit_status_) return false;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    record_status(status);
  } else if (r < 0 && errno == ECHILD) {
    exit_status_ = kUnknownExitStatus;  // reaped elsewhere; it is gone either way
  }
  return !exit_status_;
}

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_status_;
}

std::string Process::log_contents() const {
  std::ifstream in(log_path_, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace wsrelay::test
