#pragma once
// The process's exit codes (docs/operations.md "Exit codes"). Distinct, so
// that a service manager can tell a restart that helps (1, 3, 4) from one
// that cannot (2), and an operator can tell "never started" from "stopped
// without finishing its drain".
namespace wsrelay::exit_code {

inline constexpr int ok = 0;            // stopped cleanly: drained, publishes confirmed
inline constexpr int failure = 1;       // an unexpected error while running
inline constexpr int bad_config = 2;    // the configuration does not load or validate
inline constexpr int cannot_start = 3;  // valid configuration, but a listener cannot be bound, ...
inline constexpr int forced_stop = 4;   // a second signal, or shutdown.timeout_seconds passed

}  // namespace wsrelay::exit_code
