// Port of seed 000's manager Value/list example, with a Namespace: a child process sets
// shared values kept by a manager process; the parent prints them.
//
//   server = multiprocessing.Manager()
//   num = server.Value('d', 0); li = server.list(); ns = server.Namespace()
//   def func(num, li, ns): num.value = 3.14; li.append('hello'); ns.x = 10; ns.name = 'job'
//
// Output:
//   3.14
//   [hello]
//   ns.x = 10, ns.name = job
//   counter = 4000   (four processes, 1000 atomic adds each, no lock)
#include <kin/kin.hpp>
#include <kin/manager.hpp>

#include <cstdio>
#include <string>
#include <vector>

void func(kin::ValueProxy<double> num, kin::ListProxy<std::string> li, kin::NamespaceProxy ns) {
  num.set(3.14);
  li.append("hello");
  ns.set("x", 10);
  ns.set<std::string>("name", "job");
}

void count(kin::ValueProxy<long> counter) {
  for (int i = 0; i < 1000; ++i) counter.add(1);  // one atomic round trip each
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  kin::Manager server;
  auto num = server.Value<double>(0);
  auto li = server.list<std::string>();
  auto ns = server.namespace_();

  kin::Process p{func, num, li, ns};
  p.start();
  p.join();

  std::printf("%g\n[", num.get());
  for (const auto& s : li.to_vector()) std::printf("%s", s.c_str());
  std::printf("]\nns.x = %d, ns.name = %s\n", ns.get<int>("x"), ns.get<std::string>("name").c_str());

  auto counter = server.Value<long>(0);
  std::vector<kin::Process> ps;
  for (int i = 0; i < 4; ++i) ps.emplace_back(count, counter);
  for (auto& c : ps) c.start();
  for (auto& c : ps) c.join();
  std::printf("counter = %ld\n", counter.get());
}
