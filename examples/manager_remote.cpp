// A remote manager (Python's BaseManager(address, authkey).serve_forever() / .connect()):
// a server process serves on a TCP port; two client processes — which know only the address
// and the key — connect, share a named dict and a named list, and the last one shuts the
// server down. On two machines, run the server with an address such as {"0.0.0.0", 50000}
// and give the clients that host's address.
//
//   server: BaseManager(address=('', 50000), authkey=b'abc').get_server().serve_forever()
//   client: m = BaseManager(address=(host, 50000), authkey=b'abc'); m.connect()
//
// Output:
//   server listening on 127.0.0.1:<port>
//   client 1 done
//   client 2 done      (either order)
//   visits = 200, log = [client 1, client 2] (in the order they finished)
//   a wrong key: kin::AuthenticationError
#include <kin/kin.hpp>
#include <kin/manager.hpp>

#include <cstdio>
#include <string>
#include <vector>

const std::string kKey = "abracadabra";

void server(kin::Connection<kin::Address> tell) {
  kin::Manager::serve(kin::Address{"127.0.0.1", 0}, kKey, [&](const kin::Address& a) { tell.send(a); });
}

void client(kin::Address at, int who) {
  auto m = kin::Manager::connect(at, kKey);
  auto visits = m.dict<std::string, long>("visits");
  // Pipelined: the 100 adds travel in one write and are in flight together (one round trip
  // instead of 100); each future's get() returns that add's result.
  std::vector<kin::ManagerFuture<long>> adds;
  for (int i = 0; i < 100; ++i) adds.push_back(visits.add_async("count", 1));
  for (auto& f : adds) (void)f.get();
  m.list<std::string>("log").append(std::string("client ").append(std::to_string(who)));
  std::printf("client %d done\n", who);
}

int main(int argc, char** argv) {
  kin::init(argc, argv);
  auto [mine, theirs] = kin::Pipe<kin::Address>();
  kin::Process srv{server, theirs};
  srv.start();
  const kin::Address at = mine.recv();
  std::printf("server listening on %s:%u\n", at.host.c_str(), static_cast<unsigned>(at.port));
  std::fflush(stdout);

  kin::Process c1{client, at, 1};
  kin::Process c2{client, at, 2};
  c1.start();
  c2.start();
  c1.join();
  c2.join();

  auto m = kin::Manager::connect(at, kKey);
  std::printf("visits = %ld, log = [", m.dict<std::string, long>("visits").get("count"));
  auto log = m.list<std::string>("log").to_vector();
  for (std::size_t i = 0; i < log.size(); ++i) std::printf("%s%s", i ? ", " : "", log[i].c_str());
  std::printf("]\n");
  try {
    (void)kin::Manager::connect(at, "wrong key");
  } catch (const kin::AuthenticationError&) {
    std::printf("a wrong key: kin::AuthenticationError\n");
  }
  m.shutdown();
  srv.join();
}
