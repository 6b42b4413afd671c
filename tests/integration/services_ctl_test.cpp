// kin ctl against a live supervisor: the control socket's client API over a real Daemon (every
// request, logs with follow across a rotation, reload, shutdown), its files' modes, wrong keys
// and foreign users refused; then the real `kin supervise` and `kin ctl` binaries end to end,
// with their LSB exit codes.
#include <kin/services/config.hpp>
#include <kin/services/control.hpp>
#include <kin/services/daemon.hpp>

#include <kin/errors.hpp>
#include <kin/popen.hpp>
#include <kin/run.hpp>

#include "services_test_util.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <thread>

using namespace std::chrono_literals;
namespace ks = kin::services;

using kin::testing::eventually;
using kin::testing::slurp;
using kin::testing::TempDir;

namespace {

const char* kFile = R"(
[supervisor]
name = "t"
runtime_dir = "run"
shutdown_timeout = "5s"

[services.sleeper]
command = "sleep 100"
stop_timeout = "2s"

[services.crasher]
command = ["sh", "-c", "echo out-line; echo err-line >&2; sleep 0.2; exit 3"]
backoff = { initial = "100ms", max = "200ms" }
max_restarts = 1000
stop_timeout = "2s"

[services.talker]
command = ["sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.01; done"]
log = { max_size = "2KB", backups = 2 }
stop_timeout = "2s"

[services.web]
command = "sleep 100"
numprocs = 2
stop_timeout = "2s"
)";

void write(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

mode_t mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

using kin::testing::quiet;

// A daemon from kFile (plus `extra`) in `d`, and its control server.
struct Live {
  explicit Live(const TempDir& d, const std::string& extra = {}) {
    write(d / "services.toml", std::string{kFile} + extra);
    daemon = std::make_unique<ks::Daemon>(ks::load_config(d / "services.toml"), quiet());
    server = std::make_unique<ks::ControlServer>(*daemon);
  }
  ks::ControlClient client() const { return ks::ControlClient{daemon->socket_path(), daemon->key_file()}; }
  std::unique_ptr<ks::Daemon> daemon;
  std::unique_ptr<ks::ControlServer> server;
};

ks::ServiceStatus row(ks::ControlClient& c, const std::string& name) { return c.status(name).at(0); }

ks::CtlExit code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ks::ControlError& e) {
    return e.code();
  }
  return ks::CtlExit::ok;
}

}  // namespace

TEST(ServicesCtl, StatusStartStopRestartOverTheSocket) {
  TempDir d;
  Live live{d};
  auto c = live.client();
  ASSERT_TRUE(eventually([&] { return row(c, "sleeper").state == "RUNNING"; }));
  auto all = c.status();
  ASSERT_EQ(all.size(), 5u);  // sleeper, crasher, talker, web-0, web-1
  EXPECT_EQ(all[3].name, "web-0");
  ASSERT_TRUE(eventually([&] { return row(c, "crasher").restarts >= 1; }));
  auto crasher = row(c, "crasher");
  ASSERT_TRUE(crasher.last_exit.has_value());
  EXPECT_EQ(crasher.last_exit->exitcode(), 3);  // the ExitStatus survives the JSON trip
  EXPECT_EQ(c.status("web").size(), 2u);
  EXPECT_EQ(code_of([&] { (void)c.status("nope"); }), ks::CtlExit::unknown);
  EXPECT_EQ(code_of([&] { c.stop("nope"); }), ks::CtlExit::unknown);

  // One instance alone, then the service, then all.
  const pid_t web0 = row(c, "web-0").pid;
  c.stop("web-1");
  EXPECT_EQ(row(c, "web-1").state, "STOPPED");
  EXPECT_EQ(row(c, "web-0").pid, web0);
  c.start("web-1");
  EXPECT_TRUE(eventually([&] { return row(c, "web-1").state == "RUNNING"; }));
  EXPECT_EQ(row(c, "web-0").pid, web0);
  c.restart("web");
  EXPECT_TRUE(eventually([&] { return row(c, "web-0").state == "RUNNING" && row(c, "web-0").pid != web0; }));
  c.stop("all");
  for (auto& s : c.status()) EXPECT_EQ(s.pid, 0) << s.name;
  c.start("all");
  EXPECT_TRUE(eventually([&] { return row(c, "sleeper").state == "RUNNING"; }));
  EXPECT_EQ(live.server->refused(), 0u);
}

TEST(ServicesCtl, LogsTailAndFollowAcrossARotation) {
  TempDir d;
  Live live{d};
  auto c = live.client();
  ASSERT_TRUE(eventually([&] { return c.logs("crasher", 5).size() >= 2; }));
  for (auto& l : c.logs("crasher", 5)) EXPECT_EQ(l, "out-line");
  ASSERT_TRUE(eventually([&] { return !c.logs("crasher", 1, true).empty(); }));
  EXPECT_EQ(c.logs("crasher", 1, true).at(0), "err-line");
  EXPECT_EQ(code_of([&] { (void)c.logs("nope", 1); }), ks::CtlExit::unknown);

  // talker writes ~9 bytes every 10 ms or so into a 2 KB file; 400 consecutive ticks (~3.6 KB)
  // cross at least one rotation.
  std::vector<std::string> seen;
  auto c2 = live.client();
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread bound([&] {  // the follow itself has no end: closing the server bounds it
    std::unique_lock lk(mu);
    if (!cv.wait_for(lk, 60s, [&] { return done; })) live.server.reset();
  });
  c2.follow("talker", 1, false, [&](const std::string& line) {
    seen.push_back(line);
    return seen.size() < 400;
  });
  {
    std::lock_guard lk(mu);
    done = true;
  }
  cv.notify_all();
  bound.join();
  ASSERT_EQ(seen.size(), 400u);
  long first = std::stol(seen[0].substr(5));
  for (std::size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], "tick " + std::to_string(first + static_cast<long>(i)));
  EXPECT_TRUE(std::filesystem::exists(live.daemon->log_path("talker") + ".1"));
  live.daemon->shutdown();
  live.daemon->wait();
}

TEST(ServicesCtl, ReloadAppliesTheDifferencesAndShutdownAnswersOnceStopped) {
  TempDir d;
  Live live{d};
  auto c = live.client();
  ASSERT_TRUE(eventually([&] { return row(c, "sleeper").state == "RUNNING"; }));
  const pid_t sleeper = row(c, "sleeper").pid;
  std::string text = kFile;
  text.replace(text.find("[services.web]"), std::string::npos, "");  // web removed
  text.replace(text.find("command = \"sleep 100\""), 21, "command = \"sleep 99\"");  // sleeper changed
  text += "[services.extra]\ncommand = \"sleep 100\"\n";
  write(d / "services.toml", text);
  auto r = c.reload();
  EXPECT_EQ(r.added, std::vector<std::string>{"extra"});
  EXPECT_EQ(r.removed, std::vector<std::string>{"web"});
  EXPECT_EQ(r.changed, std::vector<std::string>{"sleeper"});
  EXPECT_EQ(code_of([&] { (void)c.status("web-0"); }), ks::CtlExit::unknown);
  EXPECT_TRUE(eventually([&] { return row(c, "extra").state == "RUNNING" && row(c, "sleeper").pid != sleeper; }));

  write(d / "services.toml", "[services.x]\ncomand = \"a\"\n");
  EXPECT_EQ(code_of([&] { c.reload(); }), ks::CtlExit::failed);  // a bad file changes nothing
  EXPECT_EQ(row(c, "extra").state, "RUNNING");

  std::vector<pid_t> pids;
  for (auto& s : c.status()) pids.push_back(s.pid);
  c.shutdown();  // answers once everything stopped
  EXPECT_TRUE(live.daemon->stopping());
  for (pid_t p : pids)
    if (p > 0) {
      EXPECT_NE(::kill(p, 0), 0) << p;
    }
}

TEST(ServicesCtl, TheFilesArePrivateAndAWrongKeyIsRefused) {
  TempDir d;
  Live live{d};
  const std::string run = d / "run";
  EXPECT_EQ(mode_of(run), 0700u);
  EXPECT_EQ(mode_of(live.daemon->socket_path()), 0600u);
  EXPECT_EQ(mode_of(live.daemon->key_file()), 0600u);
  EXPECT_EQ(slurp(live.daemon->key_file()).size(), 65u);  // 32 bytes in hex, and a newline

  write(d / "wrong.key", "not-the-key\n");
  EXPECT_EQ(code_of([&] { ks::ControlClient bad{live.daemon->socket_path(), d / "wrong.key"}; }),
            ks::CtlExit::no_permission);
  EXPECT_EQ(code_of([&] { ks::ControlClient bad{live.daemon->socket_path(), d / "missing.key"}; }),
            ks::CtlExit::no_permission);
  EXPECT_TRUE(eventually([&] { return live.server->refused() == 1; }));
  auto c = live.client();  // the server kept serving
  EXPECT_EQ(c.status().size(), 5u);

  // A second server on a socket someone answers on is refused; a stale one is replaced.
  EXPECT_THROW(ks::ControlServer second{*live.daemon}, kin::OSError);
  live.server.reset();
  EXPECT_FALSE(std::filesystem::exists(live.daemon->socket_path()));
  {
    int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, live.daemon->socket_path().c_str());
    ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(s);  // a socket file nobody answers on, as a killed supervisor leaves
  }
  live.server = std::make_unique<ks::ControlServer>(*live.daemon);
  EXPECT_EQ(live.client().status().size(), 5u);

  // A key file others can read is refused, and so is a directory others can write.
  live.server.reset();
  ::chmod(live.daemon->key_file().c_str(), 0644);
  EXPECT_THROW(ks::ControlServer open_key{*live.daemon}, kin::OSError);
  ::chmod(live.daemon->key_file().c_str(), 0600);
  ::chmod(run.c_str(), 0777);
  EXPECT_THROW(ks::ControlServer open_dir{*live.daemon}, kin::OSError);
  ::chmod(run.c_str(), 0700);
}

TEST(ServicesCtl, AnotherUserIsRefusedEvenWithTheKey) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a client as another user";
  TempDir d;
  Live live{d};
  ::chmod(d.path.c_str(), 0755);
  const std::string kin_bin = KIN_CLI_PATH;
  // Without access to the directory: the socket cannot even be reached (EACCES: exit 4).
  auto r = kin::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", kin_bin, "ctl", "--socket",
                     live.daemon->socket_path(), "--key", "/dev/null", "status"},
                    {.capture_output = true, .timeout = 30s});
  EXPECT_EQ(r.returncode, 4) << r.err;
  // With the directory and socket opened up and a copy of the key: SO_PEERCRED refuses it.
  const std::string key_copy = d / "key-copy";
  write(key_copy, slurp(live.daemon->key_file()));
  ::chmod(key_copy.c_str(), 0644);
  ::chmod((d / "run").c_str(), 0755);
  ::chmod(live.daemon->socket_path().c_str(), 0666);
  r = kin::run({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", kin_bin, "ctl", "--socket",
                live.daemon->socket_path(), "--key", key_copy, "status"},
               {.capture_output = true, .timeout = 30s});
  EXPECT_EQ(r.returncode, 4) << r.out << r.err;
  EXPECT_NE(r.err.find("its own user only"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");  // no status went out
  EXPECT_TRUE(eventually([&] { return live.server->refused() == 1; }));
  ::chmod((d / "run").c_str(), 0700);
}

// The binaries, as a user types them.
TEST(ServicesCtl, KinSuperviseAndKinCtlEndToEnd) {
  TempDir d;
  write(d / "services.toml", kFile);
  const std::string file = d / "services.toml";
  const std::string kin_bin = KIN_CLI_PATH;
  kin::Popen sup{{kin_bin, "supervise", file}, {.stdout_ = kin::File{d / "sup.log"}, .stderr_ = kin::File{d / "sup.err"}}};
  auto ctl = [&](std::vector<std::string> args) {
    std::vector<std::string> argv{kin_bin, "ctl", "-c", file};
    argv.insert(argv.end(), args.begin(), args.end());
    return kin::run(argv, {.capture_output = true, .timeout = 60s});
  };
  ASSERT_TRUE(eventually([&] { return ctl({"status", "sleeper"}).returncode == 0; }, 20s)) << slurp(d / "sup.err");

  auto r = ctl({"status"});
  EXPECT_EQ(r.out.rfind("NAME", 0), 0u) << r.out;
  for (const char* col : {"STATE", "READY", "PID", "UPTIME", "RESTARTS", "LAST-EXIT", "CPU%", "RSS"})
    EXPECT_NE(r.out.find(col), std::string::npos) << col;
  EXPECT_NE(r.out.find("web-1"), std::string::npos);
  r = ctl({"status", "--json"});
  auto rows = nlohmann::json::parse(r.out);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0]["name"], "sleeper");
  EXPECT_EQ(ctl({"status", "nope"}).returncode, 5);
  EXPECT_EQ(ctl({"stop", "sleeper"}).returncode, 0);
  EXPECT_EQ(ctl({"status", "sleeper"}).returncode, 3);  // LSB: not running
  EXPECT_EQ(ctl({"start", "sleeper"}).returncode, 0);
  EXPECT_EQ(ctl({"restart", "all"}).returncode, 0);
  EXPECT_TRUE(eventually([&] { return ctl({"status", "sleeper"}).returncode == 0; }));
  EXPECT_TRUE(eventually([&] { return ctl({"logs", "crasher", "-n", "2"}).out == "out-line\nout-line\n"; }));
  EXPECT_TRUE(eventually([&] { return ctl({"logs", "crasher", "-n", "1", "--err"}).out == "err-line\n"; }));
  // -f keeps going: a timeout ends it, with what it printed so far.
  try {
    (void)kin::run({kin_bin, "ctl", "-c", file, "logs", "talker", "-f", "-n", "1"},
                   {.capture_output = true, .timeout = 1500ms});
    ADD_FAILURE() << "logs -f ended by itself";
  } catch (const kin::TimeoutExpired& e) {
    EXPECT_GE(std::count(e.output().begin(), e.output().end(), '\n'), 5) << e.output();
  }
  // A second kin supervise of the same file starts nothing and says why.
  const pid_t sleeper = nlohmann::json::parse(ctl({"status", "sleeper", "--json"}).out)[0]["pid"].get<pid_t>();
  auto second = kin::run({kin_bin, "supervise", file}, {.capture_output = true, .timeout = 30s});
  EXPECT_EQ(second.returncode, 1);
  EXPECT_NE(second.err.find("another supervisor answers"), std::string::npos) << second.err;
  EXPECT_EQ(nlohmann::json::parse(ctl({"status", "sleeper", "--json"}).out)[0]["pid"].get<pid_t>(), sleeper);
  write(d / "services.toml", std::string{kFile} + "[services.extra]\ncommand = \"sleep 100\"\n");
  r = ctl({"reload"});
  EXPECT_EQ(r.returncode, 0) << r.err;
  EXPECT_NE(r.out.find("added: extra"), std::string::npos) << r.out;
  write(d / "wrong.key", "nope\n");
  EXPECT_EQ(ctl({"--key", d / "wrong.key", "status"}).returncode, 4);
  EXPECT_EQ(ctl({"bogus"}).returncode, 2);

  r = ctl({"shutdown"});
  EXPECT_EQ(r.returncode, 0) << r.err;
  EXPECT_EQ(sup.wait(30s), 0) << slurp(d / "sup.err");
  EXPECT_EQ(ctl({"status"}).returncode, 7);  // LSB: no supervisor running
}
