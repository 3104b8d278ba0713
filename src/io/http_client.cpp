#include "io/http_client.h"

#include <curl/curl.h>

#include <cmath>
#include <mutex>

#include "util/error.h"

namespace safrl::io {
namespace {

size_t append_to_string(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// curl_global_init is not thread-safe and must run once per process before any handle exists.
void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw util::LoadError("libcurl could not be initialised (curl_global_init failed)");
    }
  });
}

}  // namespace

struct HttpClient::Handle {
  CURL* curl = nullptr;
  curl_slist* get_headers = nullptr;   // the caller's headers
  curl_slist* post_headers = nullptr;  // the caller's headers and the JSON body's
  ~Handle() {
    curl_slist_free_all(get_headers);
    curl_slist_free_all(post_headers);
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

HttpClient::HttpClient(std::vector<std::string> headers) : handle_(std::make_unique<Handle>()) {
  init_curl_once();
  handle_->curl = curl_easy_init();
  if (handle_->curl == nullptr) throw util::LoadError("libcurl could not make a connection handle");
  for (const std::string& header : headers) {
    handle_->get_headers = curl_slist_append(handle_->get_headers, header.c_str());
    handle_->post_headers = curl_slist_append(handle_->post_headers, header.c_str());
  }
  handle_->post_headers =
      curl_slist_append(handle_->post_headers, "Content-Type: application/json");
  // "Expect: 100-continue" would cost a round trip on every large POST.
  handle_->post_headers = curl_slist_append(handle_->post_headers, "Expect:");
}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::get(const std::string& url, double timeout_s) {
  return perform(url, nullptr, timeout_s);
}

HttpResponse HttpClient::post_json(const std::string& url, const std::string& body,
                                   double timeout_s) {
  return perform(url, &body, timeout_s);
}

HttpResponse HttpClient::perform(const std::string& url, const std::string* body,
                                 double timeout_s) {
  CURL* curl = handle_->curl;
  HttpResponse response;
  char error_text[CURL_ERROR_SIZE] = {0};
  curl_easy_reset(curl);  // keeps the open connection, forgets the previous call's options
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: safe in threads
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(std::ceil(std::max(timeout_s, 0.001) * 1000)));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_to_string);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // whatever compression curl can read
  if (body != nullptr) {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, handle_->post_headers);
  } else {
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, handle_->get_headers);
  }
  const CURLcode code = curl_easy_perform(curl);
  // The handle must not keep pointers to this call's locals.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, nullptr);
  if (code != CURLE_OK) {
    response.body.clear();
    response.error = error_text[0] != '\0'
                         ? util::cat(curl_easy_strerror(code), " (", error_text, ")")
                         : std::string(curl_easy_strerror(code));
    return response;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace safrl::io
