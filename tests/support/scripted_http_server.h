// A loopback HTTP server that answers as scripted, for the tests of the HTTP client and of the
// vLLM backend's retries: each request gets the next scripted answer (raw HTTP bytes; an empty
// answer reads the request and says nothing for 1.5 s, then closes the connection), and the
// requests and connections it saw are recorded. Serves on its own thread until the script ends.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace safrl::testing {

class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<std::string> answers) : answers_(std::move(answers)) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(listen(listener_, 4), 0);
    socklen_t size = sizeof address;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  const std::vector<std::string>& requests() const { return requests_; }
  int connections() const { return connections_; }

 private:
  void serve() {
    size_t next = 0;
    while (next < answers_.size()) {
      const int connection = accept(listener_, nullptr, nullptr);
      if (connection < 0) return;
      ++connections_;
      std::string buffer;
      while (next < answers_.size()) {
        // One request: the head, then Content-Length bytes of body.
        size_t head_end;
        while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos &&
               read_more(connection, buffer)) {
        }
        if (head_end == std::string::npos) break;
        size_t length = 0;
        const size_t at = buffer.find("Content-Length: ");
        if (at != std::string::npos && at < head_end) length = std::stoul(buffer.substr(at + 16));
        while (buffer.size() < head_end + 4 + length && read_more(connection, buffer)) {
        }
        requests_.push_back(buffer.substr(0, head_end + 4 + length));
        buffer.erase(0, head_end + 4 + length);
        const std::string& answer = answers_[next++];
        if (answer.empty()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1500));
          break;
        }
        EXPECT_EQ(write(connection, answer.data(), answer.size()),
                  static_cast<ssize_t>(answer.size()));
      }
      close(connection);
    }
  }
  static bool read_more(int connection, std::string& buffer) {
    char chunk[4096];
    const ssize_t n = read(connection, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    return true;
  }

  std::vector<std::string> answers_;
  std::vector<std::string> requests_;
  std::atomic<int> connections_{0};
  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// A complete HTTP/1.1 answer with a JSON body.
inline std::string answer(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace safrl::testing
