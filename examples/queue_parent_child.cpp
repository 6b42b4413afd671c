// Seed 000 "multiprocessing.Queue()", its process programs one by one: the parent puts and a
// child gets; a child puts and the parent gets (each process holds its own Queue object, hence
// the different addresses, but they reach the same queue); collecting five children's results
// with a get() right after each start(), which runs them one at a time. (The seed's 60-queue
// version is examples/queue_sixty.cpp, its thread-queue programs examples/thread_queue_demos.cpp.)
//
// Python (shortened):
//   def func(q): print(f'{mp.current_process().name}, {id(q)}, {q.get()}')
//   q = mp.Queue(); q.put(['a', 'b', 'c']); p1 = mp.Process(target=func, args=(q,)) ...
//   def func(q): print(f'{mp.current_process().name}, {id(q)}'); q.put([1, 2, 3])
//   ... p.start(); p.join(); print(q.get(), id(q))
//   def add_data(queue, data): queue.put(data); print(f"put {data} in {current_process()}")
//   for i in range(5): p = Process(target=add_data, args=(queue1, i)); p.start()
//                      data_list.append(queue1.get())      # waits for this child: no overlap
//
// As in Python, a Queue is handed to a child as an argument (a global Queue object would be a
// copy under spawn). kin::Queue<T> carries one C++ type, so ['a', 'b', 'c'] is a vector.
#include <kin/kin.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace {

template <class T>
void print_list(const std::vector<T>& v);
template <>
void print_list(const std::vector<std::string>& v) {
  std::printf("[");
  for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s'%s'", i ? ", " : "", v[i].c_str());
  std::printf("]");
}
template <>
void print_list(const std::vector<int>& v) {
  std::printf("[");
  for (std::size_t i = 0; i < v.size(); ++i) std::printf("%s%d", i ? ", " : "", v[i]);
  std::printf("]");
}

void get_one(kin::Queue<std::vector<std::string>> q) {
  std::printf("%s, %p, ", kin::current_process().name.c_str(), static_cast<void*>(&q));
  print_list(q.get());
  std::printf("\n");
}

void put_one(kin::Queue<std::vector<int>> q) {
  std::printf("%s, %p\n", kin::current_process().name.c_str(), static_cast<void*>(&q));
  std::fflush(stdout);
  q.put({1, 2, 3});
}

void add_data(kin::Queue<int> queue, int data) {
  queue.put(data);  // son2father
  std::printf("put %d in %s\n", data, kin::current_process().name.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);

  std::printf("-- the parent puts, a child gets --\n");
  kin::Queue<std::vector<std::string>> q;
  q.put({"a", "b", "c"});
  std::printf("%s, %p\n", kin::current_process().name.c_str(), static_cast<void*>(&q));
  std::fflush(stdout);
  kin::Process p1{get_one, q};
  p1.start();
  p1.join();

  std::printf("-- a child puts, the parent gets --\n");
  kin::Queue<std::vector<int>> q2;
  kin::Process p{put_one, q2};
  p.start();
  p.join();
  print_list(q2.get());
  std::printf(" %p\n", static_cast<void*>(&q2));

  std::printf("-- get() after each start(): one child at a time --\n");
  kin::Queue<int> queue1;
  std::vector<int> data_list;
  std::vector<kin::Process> started;
  for (int i = 0; i < 5; ++i) {
    started.emplace_back(add_data, queue1, i);
    started.back().start();
    data_list.push_back(queue1.get());  // blocks until this child has put its item
  }
  for (auto& c : started) c.join();
  std::printf("main: final data=");
  print_list(data_list);
  std::printf("\n");
}
