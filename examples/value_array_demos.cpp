// Seed 000 "multiprocessing.Value & multiprocessing.Array", program by program: a plain list
// is not shared (each child appends to its copy); a Value('d') and an Array('i') are; the same
// through a Manager's server process (Value, Array and list proxies); an Array that three
// children write one slot each of; 60 Values (also examples/sixty_values.cpp) and six Arrays of
// different lengths, each changed by its own child.
//
// Python (shortened):
//   li = []; def foo(i): li.append(i); print("say hi", li)       # main still prints []
//   def func1(num, arr): num.value = 3.14; arr[0] = 111
//   server = Manager(); num = server.Value('d', 0); arr = server.Array('i', range(10));
//   li = server.list(); ... func(num, arr, li): num.value = 3.14; arr[0] = 222; li.append('hello')
//   temp = Array('i', [11, 22, 33]); def Foo(i, temp): temp[i] = 100 + i; print(i, '----->', item)
//   num_list = [Value('i', i) for i in range(60)]; def func(num): num.value += 1
//   array_list = [Array('i', range(i)) for i in range(6)]; def func(array): array[i] += 10
//
// A typecode is the C++ element type: 'd' is double, 'i' int.
#include <kin/kin.hpp>
#include <kin/manager.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace {

std::vector<int> li;  // a plain global: every child has its own copy

void foo(int i) {
  li.push_back(i);
  std::printf("say hi [");
  for (std::size_t k = 0; k < li.size(); ++k) std::printf("%s%d", k ? ", " : "", li[k]);
  std::printf("]\n");
}

void func1(kin::Value<double> num, kin::Array<int> arr) {
  num.store(3.14);
  arr.store(0, 111);
}

void func_managed(kin::ValueProxy<double> num, kin::ArrayProxy<int> arr, kin::ListProxy<std::string> list) {
  num.set(3.14);
  arr[0] = 222;
  list.append("hello");
}

void foo_slot(int i, kin::Array<int> temp) {
  temp.store(static_cast<std::size_t>(i), 100 + i);
  for (int item : temp.to_vector()) std::printf("%d -----> %d\n", i, item);
  std::fflush(stdout);
}

void add_one(kin::Value<int> num) { *num.locked() += 1; }

void add_ten(kin::Array<int> array) {
  std::lock_guard g{array.get_lock()};
  for (std::size_t i = 0; i < array.size(); ++i) array[i] += 10;
}

void print_ints(const std::vector<int>& v, const char* end) {
  std::printf("[");
  for (std::size_t k = 0; k < v.size(); ++k) std::printf("%s%d", k ? ", " : "", v[k]);
  std::printf("]%s", end);
}

void run_all(std::vector<kin::Process>& ps) {
  for (auto& p : ps) p.start();
  for (auto& p : ps) p.join();
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);

  std::printf("-- 内存不共享的多进程 --\n");
  std::vector<kin::Process> p_list;
  for (int i = 0; i < 4; ++i) p_list.emplace_back(foo, i);
  run_all(p_list);
  print_ints(li, "\n");  // []

  std::printf("-- Value and Array --\n");
  kin::Value<double> num{0.0};
  std::vector<int> ten;
  for (int i = 0; i < 10; ++i) ten.push_back(i);
  kin::Array<int> arr{ten};
  kin::Process p1{func1, num, arr};
  p1.start();
  p1.join();
  std::printf("%g\n", num.load());  // the child changed it, the parent prints it
  print_ints(arr.to_vector(), "\n");

  std::printf("-- Manager: Value, Array, list --\n");
  kin::Manager server;
  auto mnum = server.Value<double>(0.0);
  auto marr = server.Array<int>(ten);
  auto mli = server.list<std::string>();
  kin::Process p{func_managed, mnum, marr, mli};
  p.start();
  p.join();
  std::printf("%g\n", mnum.get());
  print_ints(marr.to_vector(), "\n");
  std::printf("[");
  auto strings = mli.to_vector();
  for (std::size_t k = 0; k < strings.size(); ++k) std::printf("%s'%s'", k ? ", " : "", strings[k].c_str());
  std::printf("]\n");

  std::printf("-- three children, one slot each --\n");
  kin::Array<int> temp{std::vector{11, 22, 33}};
  std::vector<kin::Process> slots;
  for (int i = 0; i < 3; ++i) slots.emplace_back(foo_slot, i, temp);
  run_all(slots);  // each sees the slots the others have written so far

  std::printf("-- 60 Values --\n");
  std::vector<kin::Value<int>> num_list;
  std::vector<kin::Process> process_list;
  for (int i = 0; i < 60; ++i) {
    num_list.emplace_back(i);
    process_list.emplace_back(add_one, num_list.back());
  }
  run_all(process_list);
  for (auto& n : num_list) std::printf("%d,", n.load());
  std::printf("\n");

  std::printf("-- six Arrays --\n");
  std::vector<kin::Array<int>> array_list;
  std::vector<kin::Process> array_procs;
  for (int i = 0; i < 6; ++i) {
    std::vector<int> init;
    for (int x = 0; x < i; ++x) init.push_back(x);
    array_list.emplace_back(init);
    array_procs.emplace_back(add_ten, array_list.back());
  }
  run_all(array_procs);
  array_list[2].store(0, 111);
  std::printf("%d\n", array_list[2].load(0));
  for (auto& a : array_list) print_ints(a.to_vector(), ",");
  std::printf("\n");
}
