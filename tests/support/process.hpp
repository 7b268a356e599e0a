#pragma once
// A child process started by a test, with stdout and stderr appended to a log
// file. The destructor kills it (SIGKILL, by its PID) and reaps it if it is
// still running, so a failing test never leaves a daemon behind.
//
// Not thread-safe: one test thread owns a Process.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace wsrelay::test {

class Process {
 public:
  // argv[0] is looked up in PATH when it has no '/'. `extra_env` entries
  // ("NAME=value") are added to (or replace in) the inherited environment;
  // inherited variables whose name starts with one of `drop_env_prefixes`
  // are removed first. Throws std::runtime_error when the program cannot be
  // started.
  Process(std::vector<std::string> argv, std::string log_path,
          std::vector<std::string> extra_env = {}, std::vector<std::string> drop_env_prefixes = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // Sends `sig` to the child if it has not been reaped yet.
  void signal(int sig);

  // Waits (polling waitpid with short intervals) until the child exits or
  // `timeout` passes. Returns its exit status, or -N when killed by signal N;
  // nullopt on timeout. Once reaped, returns the same value every time.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  // True until the child has exited (reaps it when it has).
  bool running();

  // Everything the child wrote so far.
  std::string log_contents() const;

 private:
  void record_status(int status);

  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  std::string log_path_;
};

}  // namespace wsrelay::test
