// Port of seed 000's subprocess examples. Python:
//
//   process1 = subprocess.Popen(args=['gedit',], shell=True)
//   process1.wait()
//   print(process1.pid)
//   print(process1.returncode)        # output: 4212 / 0
//
// gedit needs a desktop, so the child here is a shell command; the shape is the same: start,
// wait, print the pid and the return code. Then the things people use subprocess for: feeding
// a program and collecting its output with communicate(), and kin::run with check/timeout.
#include <kin/popen.hpp>
#include <kin/run.hpp>

#include <chrono>
#include <iostream>

int main() {
  using namespace std::chrono_literals;

  // process1 = subprocess.Popen(args=['echo hello from the child'], shell=True)
  kin::Popen process1{{"sh", "-c", "echo hello from the child"}};
  process1.wait();
  std::cout << process1.pid() << "\n";
  std::cout << *process1.returncode() << "\n";

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
