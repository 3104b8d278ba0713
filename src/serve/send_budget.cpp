#include "serve/send_budget.h"

namespace safrl::serve {

namespace {

// What a message in ZeroMQ's hands keeps alive: the reply's bytes and the ledgers to give back.
struct InFlight {
  Frame frame;
  std::shared_ptr<SendBudget::Ledger> client;
  std::shared_ptr<SendBudget::Ledger> total;
};

void release(void* /*data*/, void* hint) {
  auto* held = static_cast<InFlight*>(hint);
  held->client->remove(held->frame.get());
  held->total->remove(held->frame.get());
  delete held;
}

}  // namespace

void SendBudget::Ledger::add(const Frame& frame) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (messages_[frame.get()]++ == 0) bytes_ += frame->size();
}

void SendBudget::Ledger::remove(const std::string* frame) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = messages_.find(frame);
  if (--it->second == 0) {
    bytes_ -= frame->size();
    messages_.erase(it);
  }
}

size_t SendBudget::Ledger::bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return bytes_;
}

bool SendBudget::Ledger::holds(const std::string* frame) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return messages_.count(frame) > 0;
}

bool SendBudget::fits(const std::string& identity, const Frame& frame) const {
  auto it = clients_.find(identity);
  const bool known = it != clients_.end();
  if (known && it->second->holds(frame.get())) return true;
  const size_t client = known ? it->second->bytes() : 0, total = total_->bytes();
  return (client == 0 || client + frame->size() <= per_client_) &&
         (total == 0 || total_->holds(frame.get()) || total + frame->size() <= total_limit_);
}

zmq::message_t SendBudget::message(const std::string& identity, const Frame& frame) {
  std::shared_ptr<Ledger>& client = clients_[identity];
  if (!client) client = std::make_shared<Ledger>();
  client->add(frame);
  total_->add(frame);
  // ZeroMQ never writes to a message's data; the const_cast only meets its C signature.
  return zmq::message_t(const_cast<char*>(frame->data()), frame->size(), release,
                        new InFlight{frame, client, total_});
}

size_t SendBudget::unsent(const std::string& identity) const {
  auto it = clients_.find(identity);
  return it == clients_.end() ? 0 : it->second->bytes();
}

size_t SendBudget::unsent() const {
  return total_->bytes();
}

void SendBudget::forget_idle() {
  for (auto it = clients_.begin(); it != clients_.end();) {
    it = it->second->bytes() == 0 ? clients_.erase(it) : std::next(it);
  }
}

}  // namespace safrl::serve
