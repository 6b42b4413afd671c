// Seed 000 Pipe(): the main process and p1 exchange one message each; the two directions
// carry different types, so the Pipe carries a variant.
//   This is p1, receive > message from main
//   This is main, ['message1 from p1', 3.14]
#include <kin/kin.hpp>

#include <cstdio>
#include <string>
#include <tuple>
#include <variant>

using Reply = std::tuple<std::string, double>;
using Msg = std::variant<std::string, Reply>;

void func(kin::Connection<Msg> conn, std::string name) {
  std::printf("This is %s, receive > %s\n", name.c_str(), std::get<std::string>(conn.recv()).c_str());
  std::fflush(stdout);
  conn.send(Reply{"message1 from " + name, 3.14});
  conn.close();
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  auto [conn_a, conn_b] = kin::Pipe<Msg>();
  kin::Process p1{func, conn_a, std::string("p1")};
  p1.start();
  conn_b.send(std::string("message from main"));
  auto [text, number] = std::get<Reply>(conn_b.recv());
  std::printf("This is main, ['%s', %g]\n", text.c_str(), number);
  p1.join();
}
