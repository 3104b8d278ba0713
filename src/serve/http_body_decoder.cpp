#include "serve/http_body_decoder.h"

#include "serve/openrlhf.h"
#include "util/error.h"

namespace safrl::serve {

std::vector<reward::Sample> decode_get_reward_body(std::string_view body, JsonBounds bounds) {
  return openrlhf::samples_from_body(parse_bounded_json(body, bounds, "the body"));
}

HttpBodyDecoder::HttpBodyDecoder(JsonBounds bounds, std::function<void(Result)> done)
    : bounds_(bounds), done_(std::move(done)), thread_([this] { run(); }) {}

HttpBodyDecoder::~HttpBodyDecoder() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void HttpBodyDecoder::submit(uint64_t connection, uint64_t request, std::string body) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tasks_.push_back({connection, request, std::move(body)});
  }
  wake_.notify_one();
}

void HttpBodyDecoder::run() {
  while (true) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
      if (stop_) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    Result result{task.connection, task.request, {}, std::nullopt};
    try {
      result.samples = decode_get_reward_body(task.body, bounds_);
    } catch (const ProtocolError& e) {
      result.error = e;
    } catch (const std::exception& e) {
      // Memory, most likely: the body is refused, the thread goes on.
      result.error.emplace(ErrorCode::kTooLarge,
                           util::cat("the body could not be decoded: ", e.what()));
    }
    task.body = std::string();  // its memory back before the gateway hears of it
    done_(std::move(result));
  }
}

}  // namespace safrl::serve
