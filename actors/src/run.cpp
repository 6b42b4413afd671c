#include <kin/run.hpp>

#include <signal.h>

#include <chrono>
#include <string>
#include <utility>

namespace kin {

void CompletedProcess::check_returncode() const {
  if (returncode != 0) throw CalledProcessError(returncode, args, out, err);
}

CompletedProcess run(std::vector<std::string> args, RunOptions options) {
  if (options.capture_output) {
    if (options.stdout_ != Stdio::inherit || options.stderr_ != Stdio::inherit)
      throw ValueError("kin::run: stdout_ and stderr_ may not be used with capture_output");
    options.stdout_ = options.stderr_ = Stdio::pipe;
  }
  if (options.input) {
    if (options.stdin_ != Stdio::inherit) throw ValueError("kin::run: stdin_ and input may not both be used");
    options.stdin_ = Stdio::pipe;
  }
  // The default group of its own only when a timeout may have to kill it: without one the
  // child keeps the terminal's foreground group (Ctrl-C, reading the terminal), as in Python.
  std::optional<pid_t> group = options.process_group;
  if (options.timeout && options.timeout_kills_group && !options.start_new_session && !group) group = 0;
  Popen p{args, PopenOptions{.stdin_ = std::move(options.stdin_),
                             .stdout_ = std::move(options.stdout_),
                             .stderr_ = std::move(options.stderr_),
                             .cwd = std::move(options.cwd),
                             .env = std::move(options.env),
                             .start_new_session = options.start_new_session,
                             .process_group = group}};
  // Python kills only the child; kin kills the group it leads, grandchildren included, so none
  // is left behind holding the pipes or running on. SIGKILL to the pidfd as well: the child may
  // have moved to another group.
  auto kill_and_reap = [&p] {
    if (p.leads_group()) p.send_signal_to_group(SIGKILL);
    p.kill();
    p.wait();
  };
  const std::string input = options.input.value_or(std::string{});
  CommunicateResult res;
  if (options.timeout) {
    try {
      res = p.communicate(input, *options.timeout);
    } catch (const TimeoutExpired& e) {
      // Python's run kills the child and reaps it before re-raising, with the output read so
      // far (POSIX). Like Python it does not drain the pipes afterwards: a grandchild outside
      // the group holding them would block that drain.
      kill_and_reap();
      throw TimeoutExpired(std::move(args), *options.timeout, e.output(), e.stderr_output());
    } catch (...) {
      kill_and_reap();
      throw;
    }
  } else {
    try {
      res = p.communicate(input);
    } catch (...) {
      kill_and_reap();
      throw;
    }
  }
  CompletedProcess done{std::move(args), *p.returncode(), std::move(res.out), std::move(res.err)};
  if (options.check) done.check_returncode();
  return done;
}

int call(std::vector<std::string> args, RunOptions options) {
  options.check = false;
  return run(std::move(args), std::move(options)).returncode;
}

void check_call(std::vector<std::string> args, RunOptions options) {
  options.check = true;
  run(std::move(args), std::move(options));
}

std::string check_output(std::vector<std::string> args, RunOptions options) {
  if (options.stdout_ != Stdio::inherit || options.capture_output)
    throw ValueError("kin::check_output: stdout is captured already");
  options.stdout_ = Stdio::pipe;
  options.check = true;
  return run(std::move(args), std::move(options)).out;
}

}  // namespace kin
