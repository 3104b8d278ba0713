// A blocking HTTP client for the models safrl calls over the network (the vLLM helpfulness
// backend, reward/vllm_helpfulness.h), on libcurl: HTTP/1.1 (HTTP/2 where curl negotiates it
// over https), the connection kept alive between calls, TLS with the system's certificates, the
// proxy variables (http_proxy, no_proxy) honoured as curl honours them. Redirects are not
// followed: a 3xx is an answer like any other.
//
// Failing to get an answer (connection refused, a timeout, a reset) is a value, not an
// exception: HttpResponse::status is 0 and `error` says what happened, so the caller decides
// whether to retry. Any HTTP status is an answer. Not thread-safe: one thread uses one client
// at a time (a libcurl easy handle is single-threaded).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace safrl::io {

struct HttpResponse {
  long status = 0;    // the HTTP status; 0 when no answer came (see `error`)
  std::string body;   // the answer's body as received
  std::string error;  // why no answer came, e.g. "Couldn't connect to server (...)"; empty else
  bool answered() const { return status != 0; }
  bool ok() const { return status >= 200 && status < 300; }
};

class HttpClient {
 public:
  // `headers` ("Name: value") go with every request, e.g. an Authorization header.
  explicit HttpClient(std::vector<std::string> headers = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GET `url`, giving up after `timeout_s` seconds (connecting included).
  HttpResponse get(const std::string& url, double timeout_s);
  // POST `body` as application/json to `url`, giving up after `timeout_s` seconds.
  HttpResponse post_json(const std::string& url, const std::string& body, double timeout_s);

 private:
  HttpResponse perform(const std::string& url, const std::string* body, double timeout_s);

  struct Handle;
  std::unique_ptr<Handle> handle_;
};

}  // namespace safrl::io
