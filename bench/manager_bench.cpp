// kin::Manager figures (contract: bench/bench_util.hpp), paired with CPython's Manager
// (python_mp.py manager, py.manager.*) in bench/peers.tsv:
//   kin.manager.dict_set / dict_get / list_append   ops/s, one client, as python_mp.py does
//   kin.manager.dict_set_get_latency                 us per set or get (mean, as python_mp.py)
//   kin.manager.dict_get_median                      us, median of single timed gets
//   kin.manager.dict_add                             ops/s of the atomic add (one round trip;
//                                                    CPython needs lock + get + set)
//   kin.manager.tcp.dict_get_median                  us, a get over TCP loopback (remote manager)
//   kin.manager.remote.pipelined                     ops/s, get_async over TCP loopback, 1024
//                                                    in flight (CPython's proxies cannot pipeline:
//                                                    paired with its synchronous dict_get)
#include "bench_util.hpp"

#include <kin/init.hpp>
#include <kin/manager.hpp>

#include <chrono>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median_get_us(kin::DictProxy<int, long>& d, long n) {
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    (void)d.get(static_cast<int>(i & 127));
    us.push_back(seconds_since(t0) * 1e6);
  }
  return kin::bench::median(us);
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  const long n = kin::bench::scaled(20000, 200);
  {
    kin::Manager m;
    auto d = m.dict<int, long>();
    auto l = m.list<long>();
    d.set(0, 0);  // connect outside the timed part, as python_mp.py
    for (int i = 0; i < 128; ++i) d.set(i, i);
    auto t0 = Clock::now();
    for (long i = 0; i < n; ++i) d.set(static_cast<int>(i & 127), i);
    const double set_s = seconds_since(t0);
    t0 = Clock::now();
    for (long i = 0; i < n; ++i) (void)d.get(static_cast<int>(i & 127));
    const double get_s = seconds_since(t0);
    t0 = Clock::now();
    for (long i = 0; i < n; ++i) l.append(i);
    const double append_s = seconds_since(t0);
    if (kin::bench::enabled("kin.manager.dict_set")) kin::bench::emit("kin.manager.dict_set", static_cast<double>(n) / set_s, "ops/s");
    if (kin::bench::enabled("kin.manager.dict_get")) kin::bench::emit("kin.manager.dict_get", static_cast<double>(n) / get_s, "ops/s");
    if (kin::bench::enabled("kin.manager.dict_set_get_latency"))
      kin::bench::emit("kin.manager.dict_set_get_latency", (set_s + get_s) / (2.0 * static_cast<double>(n)) * 1e6, "us");
    if (kin::bench::enabled("kin.manager.list_append"))
      kin::bench::emit("kin.manager.list_append", static_cast<double>(n) / append_s, "ops/s");
    if (kin::bench::enabled("kin.manager.dict_get_median")) kin::bench::emit("kin.manager.dict_get_median", median_get_us(d, n), "us");
    if (kin::bench::enabled("kin.manager.dict_add")) {
      t0 = Clock::now();
      for (long i = 0; i < n; ++i) (void)d.add(1, 1);
      kin::bench::emit("kin.manager.dict_add", static_cast<double>(n) / seconds_since(t0), "ops/s");
    }
  }
  if (kin::bench::enabled("kin.manager.tcp.dict_get_median")) {
    kin::Manager m{kin::ManagerOptions{.address = kin::Address{"127.0.0.1", 0}, .authkey = "bench"}};
    auto c = kin::Manager::connect(m.address(), "bench");
    auto d = c.dict<int, long>();
    for (int i = 0; i < 128; ++i) d.set(i, i);
    kin::bench::emit("kin.manager.tcp.dict_get_median", median_get_us(d, n), "us");
  }
  if (kin::bench::enabled("kin.manager.remote.pipelined")) {
    kin::Manager m{kin::ManagerOptions{.address = kin::Address{"127.0.0.1", 0}, .authkey = "bench"}};
    auto c = kin::Manager::connect(m.address(), "bench");
    auto d = c.dict<int, long>();
    for (int i = 0; i < 128; ++i) d.set(i, i);
    constexpr std::size_t window = 1024;
    std::vector<kin::ManagerFuture<long>> fs;
    fs.reserve(window);
    long sum = 0;
    const long ops = n * 10;
    auto t0 = Clock::now();
    for (long i = 0; i < ops; ++i) {
      fs.push_back(d.get_async(static_cast<int>(i & 127)));
      if (fs.size() == window || i + 1 == ops) {
        for (auto& f : fs) sum += f.get();
        fs.clear();
      }
    }
    const double s = seconds_since(t0);
    if (sum < 0) return 1;  // (used: the gets are not optimised away)
    kin::bench::emit("kin.manager.remote.pipelined", static_cast<double>(ops) / s, "ops/s");
  }
}
