#pragma once
// What the benchmark reads about processes: another process's CPU time and
// resident memory from /proc, its own CPU from getrusage, and the fd limit.
#include <cstdint>
#include <optional>
#include <string>

namespace wsrelay::bench {

// utime + stime of every thread of `pid`, live and exited, in microseconds
// (/proc/PID/stat, clock-tick resolution). None when the process is gone.
std::optional<std::int64_t> process_cpu_micros(int pid);

// On-CPU time of the live threads of `pid` in microseconds, from
// /proc/PID/task/*/schedstat (nanosecond resolution, unlike the 10 ms ticks
// of /proc/PID/stat; threads that exited are not counted). None when the
// kernel has no schedstat or the process is gone.
std::optional<std::int64_t> process_runtime_micros(int pid);

// VmRSS of `pid` in KiB (/proc/PID/status). None when the process is gone.
std::optional<std::int64_t> process_rss_kib(int pid);

// This process's user + system CPU (all threads), in microseconds.
std::int64_t self_cpu_micros();

// Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft
// limit (or the old one when raising failed).
std::uint64_t raise_fd_limit();

// Busy CPU time of the whole machine (all cores; /proc/stat user + nice +
// system + irq + softirq + steal) in microseconds. With the server's, the
// broker's and this process's own CPU subtracted, what is left over a run is
// other work on the machine: the noise figure of the report.
std::optional<std::int64_t> machine_busy_micros();

// One line describing the machine load, for the report ("1.23 0.98 0.50").
std::string load_average();

}  // namespace wsrelay::bench
