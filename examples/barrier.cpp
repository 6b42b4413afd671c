// kin::Barrier across processes: three workers each do a first phase, wait at the barrier, and
// start the second phase only when all three have arrived. The last to arrive runs the barrier's
// action (once). Prints, e.g.:
//   worker 0 phase 1 done
//   worker 2 phase 1 done
//   worker 1 phase 1 done
//   all 3 workers arrived
//   worker 1 starts phase 2 (arrived #2)
//   ...
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

void worker(kin::Barrier b, int id) {
  std::this_thread::sleep_for(std::chrono::milliseconds(50 * (id + 1)));
  std::printf("worker %d phase 1 done\n", id);
  std::fflush(stdout);
  std::uint32_t index = b.wait(std::chrono::seconds(10));
  std::printf("worker %d starts phase 2 (arrived #%u)\n", id, index);
  std::fflush(stdout);
}

void announce() {
  std::printf("all 3 workers arrived\n");
  std::fflush(stdout);
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::Barrier b{3, announce};
  std::vector<kin::Process> ps;
  ps.reserve(3);
  for (int i = 0; i < 3; ++i) {
    ps.emplace_back(worker, b, i);
    ps.back().start();
  }
  for (auto& p : ps) p.join();
  return 0;
}
