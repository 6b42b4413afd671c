// Port of seed 000's subprocess examples. Python:
//
//   process1 = subprocess.Popen(args=['gedit',], shell=True)
//   process1.wait()
//   print(process1.pid)
//   print(process1.returncode)        # output: 4212 / 0
//
// gedit needs a desktop, so the child here is a shell command; the shape is the same: start,
// wait, print the pid and the return code.
//
// The seed's second program waits for `ping` with a SIGINT handler installed, and Ctrl-C
// interrupts both:
//
//   def go(arg1, arg2): print('signal is over')
//   signal.signal(signal.SIGINT, go)
//   process1 = subprocess.Popen(args=['ping www.10tiao.com',], shell=True)
//   process1.wait(); print(process1.pid); print(process1.returncode)
//
// Here the child is `sleep 30` in a process group of its own, and the program plays the
// terminal: SIGINT to itself (the handler runs, the wait goes on) and to the child's group
// (it dies: returncode -2, as Python reports a death by SIGINT).
//
// Then the things people use subprocess for: feeding a program and collecting its output with
// communicate(), and kin::run with check/timeout.
#include <kin/popen.hpp>
#include <kin/run.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <thread>

namespace {
// go(arg1, arg2): only async-signal-safe calls in a handler, so write(2), not printf.
void go(int) {
  static const char msg[] = "signal is over\n";
  [[maybe_unused]] auto n = ::write(STDOUT_FILENO, msg, sizeof msg - 1);
}
}  // namespace

int main() {
  using namespace std::chrono_literals;

  // process1 = subprocess.Popen(args=['echo hello from the child'], shell=True)
  kin::Popen process1{{"sh", "-c", "echo hello from the child"}};
  process1.wait();
  std::cout << process1.pid() << "\n";
  std::cout << *process1.returncode() << "\n";

  // signal.signal(signal.SIGINT, go); Popen('ping ...', shell=True).wait() interrupted by Ctrl-C
  struct sigaction sa {};
  sa.sa_handler = go;
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, nullptr);
  kin::Popen pinger{{"sh", "-c", "exec sleep 30"}, {.process_group = 0}};
  std::this_thread::sleep_for(100ms);  // it runs
  std::cout.flush();
  ::raise(SIGINT);                         // what Ctrl-C does to this program...
  pinger.send_signal_to_group(SIGINT);     // ...and to the child
  pinger.wait();
  std::cout << pinger.pid() << "\n";
  std::cout << *pinger.returncode() << "\n";
  sa.sa_handler = SIG_DFL;
  ::sigaction(SIGINT, &sa, nullptr);

  // p = Popen(['tr', 'a-z', 'A-Z'], stdin=PIPE, stdout=PIPE); out, err = p.communicate(b'...')
  kin::Popen p{{"tr", "a-z", "A-Z"}, {.stdin_ = kin::pipe, .stdout_ = kin::pipe}};
  auto [out, err] = p.communicate("shout this\n", 5s);
  std::cout << out << "returncode " << *p.returncode() << "\n";

  // subprocess.run(['ls', '/no/such'], capture_output=True, check=True)
  try {
    kin::run({"ls", "/no/such"}, {.capture_output = true, .check = true});
  } catch (const kin::CalledProcessError& e) {
    std::cout << e.what() << "\n";
  }

  // subprocess.run(['sleep', '10'], timeout=0.2): the child is killed, TimeoutExpired is raised
  try {
    kin::run({"sleep", "10"}, {.timeout = 200ms});
  } catch (const kin::TimeoutError& e) {
    std::cout << "timed out: " << e.what() << "\n";
  }

  // A program that does not exist fails at once, not with exit status 127 later.
  try {
    kin::Popen missing{{"no-such-program"}};
  } catch (const kin::OSError& e) {
    std::cout << e.what() << "\n";
  }
}
