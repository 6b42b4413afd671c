// Port of the bank-account example (seed 001): two threads draw from one account; a kin::RLock
// makes check-then-withdraw atomic, so exactly one draw succeeds. The balance lives in a
// kin::Value, so the same code works when the drawers are processes.
//
// Python prints:
//   Thread-1取钱成功！吐出钞票:100
//   	余额为: 100
//   Thread-2取钱失败！余额不足！
#include <kin/rlock.hpp>
#include <kin/value.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

class Account {
 public:
  Account(int account_no, int balance) : account_no_(account_no), balance_(balance) {}
  [[nodiscard]] int get_balance() const { return balance_.load(); }

  void draw(const std::string& who, int amount) {
    std::lock_guard g{lock_};
    if (balance_.load() >= amount) {
      std::printf("%s取钱成功！吐出钞票:%d\n", who.c_str(), amount);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      balance_.store(balance_.load() - amount);  // re-enters lock_'s RLock: the Value's own
      std::printf("\t余额为: %d\n", balance_.load());
    } else {
      std::printf("%s取钱失败！余额不足！\n", who.c_str());
    }
  }

 private:
  int account_no_;
  kin::Value<int> balance_;
  kin::RLock& lock_ = balance_.get_lock();
};

int main() {
  Account count{1, 200};
  std::thread t1([&] { count.draw("Thread-1", 100); });
  t1.join();  // Python's output shows Thread-1 first; keep that order deterministic
  std::thread t2([&] { count.draw("Thread-2", 200); });
  t2.join();
  return 0;
}
