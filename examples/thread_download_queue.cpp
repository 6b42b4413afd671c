// Seed 004's two download programs: five daemon DownloadThreads take URLs off a queue.Queue,
// call task_done() after each, and the main thread waits with q.join(); then a thread pool
// (multiprocessing.dummy's Pool, kin::ThreadPool) maps a fetch function over a list of URLs.
//
// Python (shortened):
//   class DownloadThread(threading.Thread):
//       def run(self):
//           while True:
//               url = self.q.get(); print(f'{self.name} begin download {url}')
//               self.download_file(url); self.q.task_done(); print(f'{self.name} download completed')
//   q = queue.Queue()
//   for i in range(5): t = DownloadThread(q); t.setDaemon(True); t.start()
//   for url in urls: q.put(url)
//   q.join()
//   pool = ThreadPool(4); results = pool.map(requests.get, urls); pool.close(); pool.join()
//
// The seed downloads web pages with requests; kin has no HTTP client and this program must
// run without a network, so "downloading" here waits 50-150 ms and writes a small file named
// after the URL into a temporary directory (removed at the end). The threads, the queue, the
// task_done()/join() handshake and the pool's map are the seed's.
#include <kin/kin.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

fs::path g_dir;

// A stand-in for requests.get: the "page" of a URL, after a network-like delay.
std::string fetch(std::string url) {
  std::this_thread::sleep_for(std::chrono::milliseconds(50 + 50 * static_cast<int>(url.size() % 3)));
  return "<html>" + url + "</html>";
}

struct DownloadThread : kin::Thread {
  explicit DownloadThread(kin::thread::Queue<std::string>& q) : q(q) {}
  void run() override {
    for (;;) {
      std::string url = q.get();  // 从队列取出一个元素
      std::printf("%s begin download %s\n", name().c_str(), url.c_str());
      std::fflush(stdout);
      download_file(url);
      q.task_done();  // 下载完成发送信号
      std::printf("%s download completed\n", name().c_str());
      std::fflush(stdout);
    }
  }
  void download_file(const std::string& url) {
    std::ofstream f(g_dir / (url.substr(url.find("//") + 2) + ".html"));
    f << fetch(url);
  }
  kin::thread::Queue<std::string>& q;
};

}  // namespace

int main(int argc, char** argv) {
  kin::init(argc, argv);
  std::string tmpl = (fs::temp_directory_path() / "kin_download_XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  g_dir = tmpl;

  const std::vector<std::string> urls{"http://www.baidu.com", "http://www.python.org", "http://www.douban.com"};
  // The daemon threads still block in get() when the program ends, and are abandoned then, as
  // Python abandons daemon threads. So the queue they block on and the thread objects (whose
  // run() they execute) are never destroyed: allocated here and deliberately not freed.
  auto& q = *new kin::thread::Queue<std::string>;
  for (int i = 0; i < 5; ++i) {
    auto* t = new DownloadThread(q);  // 启动5个线程
    t->set_daemon(true);
    t->start();
  }
  for (const auto& url : urls) q.put(url);
  q.join();  // every put() has had its task_done()
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(g_dir)) ++files;
  std::printf("%zu files downloaded\n", files);

  kin::ThreadPool pool{4};  // 开启线程池
  const std::vector<std::string> more{"http://www.baidu.com", "http://www.sina.com.cn", "http://www.163.com",
                                      "http://www.qq.com", "http://www.taobao.com"};
  auto results = pool.map(fetch, more);  // 获取urls的结果
  pool.close();                          // 关闭线程池等待任务完成退出
  pool.join();
  for (const auto& page : results) std::printf("%s\n", page.c_str());
  fs::remove_all(g_dir);
}
